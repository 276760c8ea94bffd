"""What is done to a model's class probabilities after the network: calibration and uncertainty.

- Temperature scaling (Guo et al. 2017): p_T(c) = p(c)^(1/T) / sum_k p(k)^(1/T), the softmax of the
  log-probabilities divided by T; T > 1 softens overconfident outputs. It never changes the most
  probable class. The card's ``calibration`` holds T per weight file (``calibrate``).
- Uncertainty in [0, 1]: the predictive entropy over log(n_classes) (``entropy``, the default), or,
  for an ensemble of M models (the cross-validation fold models), the mutual information between
  the prediction and the model, H(mean p) - mean H(p), over log(n_classes) (``ensemble``: the part
  of the uncertainty that comes from the models disagreeing).
"""
import numpy as np

UNCERTAINTY_KINDS = ("entropy", "ensemble")


def temperature_scaled(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """(n, K) probabilities p^(1/T), renormalised; float32."""
    logp = np.log(np.clip(probabilities, 1e-30, 1.0)) / temperature
    logp -= logp.max(axis=1, keepdims=True)
    scaled = np.exp(logp)
    return (scaled / scaled.sum(axis=1, keepdims=True)).astype(np.float32)


def entropy(probabilities: np.ndarray) -> np.ndarray:
    """(...) Shannon entropy in nats over the last axis of probabilities (..., K)."""
    p = np.clip(probabilities, 1e-30, 1.0)
    return -(probabilities * np.log(p)).sum(axis=-1)


def normalized_entropy(probabilities: np.ndarray) -> np.ndarray:
    """(n,) predictive entropy of (n, K) probabilities over log K: 0 certain, 1 uniform."""
    return (entropy(probabilities) / np.log(probabilities.shape[1])).astype(np.float32)


def normalized_mutual_information(members: np.ndarray) -> np.ndarray:
    """(n,) H(mean p) - mean H(p) over log K, for the probabilities (M, n, K) of M ensemble members."""
    information = entropy(members.mean(axis=0)) - entropy(members).mean(axis=0)
    return np.maximum(information / np.log(members.shape[2]), 0.0).astype(np.float32)
