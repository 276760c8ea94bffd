"""Model evaluation on labelled light curves: metrics JSON and plots a person can read.

Data sets: ``bts`` (real ZTF Bright Transient Survey light curves, the shared
``bts_dev`` table), ``plasticc-test`` (the held-out PLAsTiCC supernovae, g/r
detections as simulated for LSST) and ``plasticc-test-ztf`` (the same objects
made ZTF-like as the training set is, seed 0). A model whose card records cross-validation
on the evaluated table scores each object with the fold model that did not see it.

Definitions: coverage = fraction of objects given a class (passing the
light-curve cuts: >= 2 points, both bands); accuracy and recall count an
unclassified object as wrong; precision is over the objects given that class;
log-loss is over classified objects, probabilities clipped at 1e-7.
"""
import json
from pathlib import Path
from typing import Optional

import numpy as np

from .classify import STATUS_OK, classify_batch, most_probable_class
from .cuts import SelectionCuts, apply_cuts
from .datasets import LabelledPoints, read_plasticc, read_ztf_table
from .models import load_model, read_card
from .realdata import shared_data_dir
from .training import fold_of

DATASETS = ("bts", "plasticc-test", "plasticc-test-ztf")
SUPERNOVA_CLASSES = ("SNIa", "SNII", "SNIbc")
UNCLASSIFIED = "unclassified"


def bts_path() -> Path:
    return shared_data_dir() / "bts_dev" / "bts_dev_lightcurves.parquet"


def load_dataset(name: str, path=None) -> LabelledPoints:
    """The labelled points of data set ``name`` (``path`` overrides where it is read from)."""
    if name == "bts":
        return read_ztf_table(path or bts_path())
    if name == "plasticc-test":
        return read_plasticc("test", path)
    if name == "plasticc-test-ztf":  # as ZTF would see them: the training set's ZTF-like rendering, fixed seed
        from .training import ztf_like_points

        data = read_plasticc("test", path)
        return LabelledPoints(ztf_like_points(data.points, np.random.default_rng(0)), data.labels)
    raise ValueError(f"unknown data set {name!r}; choose one of {DATASETS}")


def cross_validated_on(card: dict, data_file: Optional[str]) -> bool:
    """True if the model's card records cross-validation on the table named ``data_file``."""
    return bool(data_file) and card.get("cv", {}).get("data") == data_file


def days_label(days: Optional[float]) -> str:
    return "all days" if days is None else f"first {days:g} days"


def predict(model_name: str, data: LabelledPoints, data_file: Optional[str] = None, max_days: Optional[float] = None):
    """Probabilities (n, n_classes) with NaN rows where unclassified, and status (n,), in ``data.labels`` order.

    ``data_file``: name of the table the objects come from; if the model was
    cross-validated on it, each object is scored by the fold model without it.
    """
    card = read_card(model_name)
    lightcurves = data.lightcurves(max_days)
    status = apply_cuts(lightcurves, SelectionCuts())
    if not cross_validated_on(card, data_file):
        return classify_batch(lightcurves, status, load_model(model_name))
    cv = card["cv"]
    probabilities = np.full((len(status), len(card["classes"])), np.nan, dtype=np.float32)
    folds = fold_of(data.labels.index, cv["folds"])
    for k, weights in enumerate(cv["weights"]):
        rows = np.flatnonzero(folds == k)
        probabilities[rows], status[rows] = classify_batch(lightcurves.subset(rows), status[rows],
                                                           load_model(model_name, weights))
    return probabilities, status


def metrics(true_labels, probabilities: np.ndarray, status: np.ndarray, classes) -> dict:
    """Accuracy, coverage, log-loss, per-class recall/precision and confusion matrix (see module notes)."""
    true_labels = np.asarray(true_labels, dtype=object)
    predicted = most_probable_class(probabilities, status, classes)
    predicted = np.where(predicted == "", UNCLASSIFIED, predicted)
    classified = np.asarray(status) == STATUS_OK
    correct = predicted == true_labels
    present, support = np.unique(true_labels, return_counts=True)
    present = present[np.argsort(-support, kind="stable")]
    per_class = {}
    for name in present:
        is_true, is_predicted = true_labels == name, predicted == name
        per_class[name] = {"support": int(is_true.sum()), "recall": float(correct[is_true].mean()),
                           "precision": float(correct[is_predicted].mean()) if is_predicted.any() else None}
    columns = list(classes) + [UNCLASSIFIED]
    confusion = [[int(((true_labels == t) & (predicted == p)).sum()) for p in columns] for t in present]
    index = {name: i for i, name in enumerate(classes)}
    p_true = np.array([probabilities[i, index[t]] if t in index else 0.0 for i, t in enumerate(true_labels)])
    sn_recalls = [per_class[c]["recall"] for c in SUPERNOVA_CLASSES if c in per_class]
    return {
        "objects": int(len(true_labels)),
        "coverage": float(classified.mean()),
        "accuracy": float(correct.mean()),
        "accuracy_classified": float(correct[classified].mean()) if classified.any() else None,
        "mean_recall_SNIa_SNII_SNIbc": float(np.mean(sn_recalls)) if sn_recalls else None,
        "log_loss": float(-np.log(np.clip(p_true[classified], 1e-7, 1.0)).mean()) if classified.any() else None,
        "per_class": per_class,
        "confusion": {"true": list(present), "predicted": columns, "counts": confusion},
        "status_counts": {s: int(n) for s, n in zip(*np.unique(np.asarray(status, dtype=str), return_counts=True))},
    }


def plot(result: dict, out: Path, title: str):
    """Write ``confusion.png`` (row-normalised) and ``precision_recall.png`` into ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    confusion = result["confusion"]
    counts = np.array(confusion["counts"], dtype=float)
    used = counts.sum(axis=0) > 0
    used[[confusion["predicted"].index(t) for t in confusion["true"] if t in confusion["predicted"]]] = True
    counts, predicted = counts[:, used], np.array(confusion["predicted"])[used]
    fractions = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.0 + 0.75 * len(predicted), 1.5 + 0.6 * len(confusion["true"])))
    ax.imshow(fractions, cmap="Blues", vmin=0, vmax=1)
    for (i, j), n in np.ndenumerate(counts):
        ax.text(j, i, f"{fractions[i, j]:.2f}\n({int(n)})", ha="center", va="center", fontsize=7,
                color="white" if fractions[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(predicted)), predicted, rotation=45, ha="right")
    ax.set_yticks(range(len(confusion["true"])), confusion["true"])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{title}\naccuracy {result['accuracy']:.3f}, coverage {result['coverage']:.3f}", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "confusion.png", dpi=120)
    plt.close(fig)

    names = list(result["per_class"])
    recall = [result["per_class"][c]["recall"] for c in names]
    precision = [result["per_class"][c]["precision"] or 0.0 for c in names]
    fig, ax = plt.subplots(figsize=(1.5 + 0.8 * len(names), 3.5))
    positions = np.arange(len(names))
    ax.bar(positions - 0.2, precision, 0.4, label="precision")
    ax.bar(positions + 0.2, recall, 0.4, label="recall")
    ax.set_xticks(positions, [f"{c}\n(n={result['per_class'][c]['support']})" for c in names], fontsize=8)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "precision_recall.png", dpi=120)
    plt.close(fig)


def summary(result: dict) -> dict:
    """The headline figures of an evaluation: what the model card records."""
    keys = ("cross_validated", "objects", "coverage", "accuracy", "mean_recall_SNIa_SNII_SNIbc", "log_loss")
    out = {key: round(result[key], 4) if isinstance(result[key], float) else result[key] for key in keys}
    out["recall"] = {name: round(c["recall"], 3) for name, c in result["per_class"].items()}
    out["precision"] = {name: None if c["precision"] is None else round(c["precision"], 3)
                        for name, c in result["per_class"].items()}
    return out


def record(model_name: str, result: dict):
    """Store ``summary(result)`` in the model card, under ``metrics[DATA, days D|all]``."""
    from .models import card_path

    path = card_path(model_name)
    card = json.loads(path.read_text())
    key = f"{result['data']}, {days_label(result['days'])}"
    card.setdefault("metrics", {})[key] = summary(result)
    path.write_text(json.dumps(card, indent=2) + "\n")


def evaluate(model_name: str, data_name: str, days: Optional[float] = None, out=None, path=None) -> dict:
    """Metrics of ``model_name`` on ``data_name`` (first ``days`` after the first detection, or all);
    with ``out``, also ``metrics.json`` and the plots there."""
    data = load_dataset(data_name, path)
    data_file = Path(path or bts_path()).name if data_name == "bts" else None
    card = read_card(model_name)
    probabilities, status = predict(model_name, data, data_file, days)
    result = {"model": model_name, "data": data_name, "days": days,
              "cross_validated": cross_validated_on(card, data_file),
              **metrics(data.labels.to_numpy(), probabilities, status, card["classes"])}
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
        plot(result, out, f"{model_name} on {data_name}, {days_label(days)}")
    return result
