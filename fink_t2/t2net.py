"""The t2 network (Allam & McEwen 2021, arXiv:2105.06178) in Keras 3.

GP flux (n, T, B) -> 1x1 convolutional embedding -> + sinusoidal positional
encoding -> transformer block(s) (multi-head self-attention and a feed-forward
layer, each with a residual connection and layer normalisation) -> global
average pooling -> concatenated with the auxiliary inputs (n, A) -> softmax
over the classes. Auxiliary inputs play the role t2 gives to redshift: scalar
facts the regular time grid hides (here the light curve's span in days).

Only weights are saved; the architecture is rebuilt from the hyper-parameters
stored in the model card, so no custom-object deserialisation is needed.
"""
import numpy as np

ARCHITECTURE_DEFAULTS = {"d_model": 32, "heads": 4, "feed_forward": 64, "blocks": 1, "dropout": 0.1}


def positional_encoding(n_times: int, d_model: int) -> np.ndarray:
    """(n_times, d_model) sinusoidal encoding (Vaswani et al. 2017): sin on even, cos on odd channels."""
    position = np.arange(n_times)[:, None]
    frequency = 1.0 / 10000.0 ** (2 * (np.arange(d_model) // 2) / d_model)
    angle = position * frequency[None, :]
    return np.where(np.arange(d_model) % 2 == 0, np.sin(angle), np.cos(angle)).astype(np.float32)


def build_network(n_times: int, n_bands: int, n_classes: int, n_aux: int, d_model=32, heads=4, feed_forward=64,
                  blocks=1, dropout=0.1):
    """An uncompiled Keras model with inputs ``[flux (n, n_times, n_bands), aux (n, n_aux)]``."""
    import keras
    from keras import layers

    flux = keras.Input((n_times, n_bands), name="flux")
    aux = keras.Input((n_aux,), name="aux")
    x = layers.Conv1D(d_model, kernel_size=1, name="embedding")(flux)
    x = x + keras.ops.convert_to_tensor(positional_encoding(n_times, d_model))[None]
    for i in range(blocks):
        attention = layers.MultiHeadAttention(heads, key_dim=d_model // heads, dropout=dropout, name=f"attention_{i}")(x, x)
        x = layers.LayerNormalization(epsilon=1e-6, name=f"norm_attention_{i}")(x + layers.Dropout(dropout)(attention))
        hidden = layers.Dense(feed_forward, activation="relu", name=f"feed_forward_{i}")(x)
        hidden = layers.Dense(d_model, name=f"feed_forward_out_{i}")(hidden)
        x = layers.LayerNormalization(epsilon=1e-6, name=f"norm_feed_forward_{i}")(x + layers.Dropout(dropout)(hidden))
    pooled = layers.GlobalAveragePooling1D(name="pooling")(x)
    features = layers.Concatenate(name="with_aux")([pooled, aux])
    features = layers.Dropout(dropout)(features)
    probabilities = layers.Dense(n_classes, activation="softmax", name="probabilities")(features)
    return keras.Model([flux, aux], probabilities, name="t2")
