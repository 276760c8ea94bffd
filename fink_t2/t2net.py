"""The t2 network (Allam & McEwen 2021, arXiv:2105.06178) in Keras 3.

Inputs (n, T, C): the scaled GP flux of each band, then time channels (see
``models.time_channel``) -> 1x1 convolutional embedding -> + sinusoidal positional
encoding -> transformer block(s) (multi-head self-attention and a feed-forward
layer, each with a residual connection and layer normalisation) -> pooling over
time (``head``: ``"average"``, global average pooling as in t2; or ``"attention"``,
one learned query attending over the time steps, a one-query transformer decoder
block, so that the network can weigh some times more than others) -> concatenated
with the auxiliary inputs (n, A) -> softmax over the classes. Time channels and
auxiliary inputs play the role t2 gives to redshift: facts the regular time grid
hides (here the days it spans).

A model may add a real-data expert (``with_expert``): a second t2 network, trained
on real ZTF light curves only, over the classes those hold (the supernovae and
their kin). The general network's probability of that group is shared out as the
expert says; the other classes keep the general network's probabilities:

    p(c) = p_general(c)                                   c outside the group
    p(c) = p_general(group) * p_expert(c | group)         c in the group

A network fitted with class weights w_c learns p(c | x) w_c / sum_k p(k | x) w_k;
``divided_by`` undoes that at inference, so probabilities follow the training frequencies.

A seed ensemble (a card with ``ensemble.members``, written by ``ensemble.combine``) is the
mean of the probabilities of several such models trained by one recipe, each in a folder
of its own (``member_files``) and fed the input scaling it was trained with (``rescaled``).

Only weights are saved; the architecture is rebuilt from the hyper-parameters
stored in the model card, so no custom-object deserialisation is needed. This module
is for training and for the Keras engine (the ``train`` extra); inference runs the
exported ONNX graph (``onnx_export``) without Keras.
"""
from pathlib import Path, PurePosixPath

import keras
import numpy as np
from keras import layers

ARCHITECTURE_DEFAULTS = {"d_model": 32, "heads": 4, "feed_forward": 64, "blocks": 1, "dropout": 0.1}
#: Ways of pooling the time steps before the softmax (``build_network``'s ``head``).
HEADS = ("average", "attention")


def positional_encoding(n_times: int, d_model: int) -> np.ndarray:
    """(n_times, d_model) sinusoidal encoding (Vaswani et al. 2017): sin on even, cos on odd channels."""
    position = np.arange(n_times)[:, None]
    frequency = 1.0 / 10000.0 ** (2 * (np.arange(d_model) // 2) / d_model)
    angle = position * frequency[None, :]
    return np.where(np.arange(d_model) % 2 == 0, np.sin(angle), np.cos(angle)).astype(np.float32)


class LearnedQuery(layers.Layer):
    """A trained (1, 1, d) query, repeated for every object of its input (n, T, d)."""

    def build(self, input_shape):
        self.query = self.add_weight(shape=(1, 1, input_shape[-1]), initializer="random_normal", name="query")

    def call(self, x):
        return keras.ops.zeros_like(x[:, :1, :]) + self.query


class PositionalEncoding(layers.Layer):
    """Adds ``positional_encoding`` to its input (n, T, d): a constant built inside the layer's call,
    so that an exported graph holds it as a constant, not as an extra input."""

    def call(self, x):
        return x + keras.ops.convert_to_tensor(positional_encoding(x.shape[1], x.shape[2]))[None]


def build_network(n_times: int, n_channels: int, n_classes: int, n_aux: int, d_model=32, heads=4, feed_forward=64,
                  blocks=1, dropout=0.1, head="average", name="t2"):
    """An uncompiled Keras model with inputs ``[flux (n, n_times, n_channels), aux (n, n_aux)]``; ``head``
    one of ``HEADS``."""
    if head not in HEADS:
        raise ValueError(f"unknown head {head!r}; choose one of {HEADS}")
    flux = keras.Input((n_times, n_channels), name="flux")
    aux = keras.Input((n_aux,), name="aux")
    x = layers.Conv1D(d_model, kernel_size=1, name="embedding")(flux)
    x = PositionalEncoding(name="positional_encoding")(x)
    for i in range(blocks):
        attention = layers.MultiHeadAttention(heads, key_dim=d_model // heads, dropout=dropout, name=f"attention_{i}")(x, x)
        x = layers.LayerNormalization(epsilon=1e-6, name=f"norm_attention_{i}")(x + layers.Dropout(dropout)(attention))
        hidden = layers.Dense(feed_forward, activation="relu", name=f"feed_forward_{i}")(x)
        hidden = layers.Dense(d_model, name=f"feed_forward_out_{i}")(hidden)
        x = layers.LayerNormalization(epsilon=1e-6, name=f"norm_feed_forward_{i}")(x + layers.Dropout(dropout)(hidden))
    if head == "average":
        pooled = layers.GlobalAveragePooling1D(name="pooling")(x)
    else:
        query = LearnedQuery(name="query")(x)
        attended = layers.MultiHeadAttention(heads, key_dim=d_model // heads, dropout=dropout,
                                             name="pooling_attention")(query, x)
        attended = layers.LayerNormalization(epsilon=1e-6, name="norm_pooling")(query + attended)
        pooled = layers.Flatten(name="pooling")(attended)
    features = layers.Concatenate(name="with_aux")([pooled, aux])
    features = layers.Dropout(dropout)(features)
    probabilities = layers.Dense(n_classes, activation="softmax", name="probabilities")(features)
    return keras.Model([flux, aux], probabilities, name=name)


def with_expert(general, expert, group: list, n_classes: int, name: str = "t2_with_expert"):
    """One Keras model: ``general`` (n_classes outputs) with ``expert`` sharing out the mass of ``group``.

    ``group``: the general network's class indices that the expert's outputs stand for, in its order.
    """
    to_classes = np.zeros((len(group), n_classes), dtype=np.float32)  # expert output j -> class group[j]
    to_classes[np.arange(len(group)), group] = 1.0
    outside = 1.0 - to_classes.sum(axis=0)
    inputs = _inputs_like(general)
    p_general, p_expert = general(inputs), expert(inputs)
    group_mass = keras.ops.sum(p_general * to_classes.sum(axis=0), axis=1, keepdims=True)
    probabilities = p_general * outside + group_mass * keras.ops.matmul(p_expert, to_classes)
    return keras.Model(inputs, probabilities, name=name)


def divided_by(network, class_weights):
    """One Keras model: ``network``'s probabilities divided by ``class_weights`` (n_classes,), renormalised."""
    inverse = (1.0 / np.asarray(class_weights, dtype=np.float32))[None]
    inputs = _inputs_like(network)
    unweighted = network(inputs) * inverse
    return keras.Model(inputs, unweighted / keras.ops.sum(unweighted, axis=1, keepdims=True), name=network.name)


def _inputs_like(network):
    """Fresh Keras inputs with the shapes and names of ``network``'s, to wrap it in a new model."""
    return [keras.Input(t.shape[1:], name=t.name) for t in network.inputs]


def member_files(card: dict, weights: str) -> list:
    """Weight file ``weights`` of each member of an ensemble card (``ensemble.members``: one folder per
    member), relative to the model's folder; ``[weights]`` for a single model."""
    members = card.get("ensemble", {}).get("members")
    return [f"{member['folder']}/{weights}" for member in members] if members else [weights]


def expert_file(card: dict, weights: str) -> str:
    """The expert's weight file beside general weight file ``weights``: the card's ``expert.weights_prefix``
    before the file name."""
    path = PurePosixPath(weights)
    return str(path.with_name(card["expert"]["weights_prefix"] + path.name))


def load_networks(card: dict, root, weights: str, suffix: str = ""):
    """The networks of a ``keras3_weights`` card as trained, from weight file ``weights`` in folder
    ``root``: ``(general, expert)``, the expert (``expert_file``) None where the card has none; ``suffix``
    ends their names. Class weights are not divided out."""
    from .models import n_input_channels

    def network(classes, filename, name):
        built = build_network(card["n_times"], n_input_channels(card), len(classes), len(card.get("aux_inputs", [])),
                              name=name + suffix, **card["architecture"])
        built.load_weights(str(Path(root) / filename))
        return built

    general = network(card["classes"], weights, "t2")
    if "expert" not in card:
        return general, None
    return general, network(card["expert"]["classes"], expert_file(card, weights), "t2_expert")


def load_network(card: dict, root, weights: str):
    """The Keras model of a ``keras3_weights`` card from weight file ``weights`` in folder ``root``: the
    general network, its class weights divided out, with the expert where the card has one. For an
    ensemble card, the mean of its members' probabilities, each member fed the flux scaled as it was
    trained (``rescaled``; the card's ``input_scaling`` is its first member's)."""
    members = card.get("ensemble", {}).get("members")
    if not members:
        return _single_network(card, root, weights)
    networks = [_single_network(card, root, filename, f"_{i}")
                for i, filename in enumerate(member_files(card, weights))]
    inputs = _inputs_like(networks[0])
    outputs = [network([rescaled(inputs[0], card["input_scaling"], member["input_scaling"], len(card["bands"])),
                        *inputs[1:]]) for network, member in zip(networks, members)]
    return keras.Model(inputs, layers.Average(name="mean_of_members")(outputs), name="t2_ensemble")


def _single_network(card: dict, root, weights: str, suffix: str = ""):
    """``load_network`` of one trained model (an ensemble's member: ``weights`` in its folder)."""
    def unweighted(network, filename):
        class_weights = card.get("class_weights", {}).get(filename)
        return network if class_weights is None else divided_by(network, class_weights)

    general, expert = load_networks(card, root, weights, suffix)
    general = unweighted(general, weights)
    if expert is None:
        return general
    expert = unweighted(expert, expert_file(card, weights))
    group = [card["classes"].index(c) for c in card["expert"]["classes"]]
    return with_expert(general, expert, group, len(card["classes"]), "t2_with_expert" + suffix)


def rescaled(flux, scaling: dict, member_scaling: dict, n_bands: int):
    """Network input ``flux`` (n, T, C) scaled with ``scaling`` (``peak_normalized_robust``: (p - center) /
    scale per band, the first ``n_bands`` channels) turned into the same flux scaled with
    ``member_scaling``: x' = x scale / scale' + (center - center') / scale'. Time channels pass unchanged."""
    if member_scaling == scaling:
        return flux
    if {scaling["method"], member_scaling["method"]} != {"peak_normalized_robust"}:
        raise ValueError("ensemble members with different input scalings must all be peak_normalized_robust")
    scale, member_scale = np.asarray(scaling["scale"]), np.asarray(member_scaling["scale"])
    offset = (np.asarray(scaling["center"]) - np.asarray(member_scaling["center"])) / member_scale
    n_other = flux.shape[-1] - n_bands
    gain = np.concatenate([scale / member_scale, np.ones(n_other)]).astype(np.float32)
    return flux * gain + np.concatenate([offset, np.zeros(n_other)]).astype(np.float32)


def class_activation_map(network, inputs, class_index: int):
    """Class activation map of one class for a network built by ``build_network`` (Zhou et al. 2016).

    The head must be global average pooling (``head="average"``) then a dense softmax layer, so the class's
    logit is ``mean_t cam_t + aux_term``: ``cam`` (n, T) is the last block's features at each time step
    weighted by the softmax layer's weights for that class, ``aux_term`` (n,) the auxiliary
    inputs' share plus the bias. Returns ``(cam, aux_term)``.
    """
    pooled = network.get_layer("pooling")
    if not isinstance(pooled, layers.GlobalAveragePooling1D):
        raise ValueError("a class activation map needs the average-pooling head; this network pools by attention")
    features = keras.Model(network.inputs, pooled.input)(inputs, training=False)  # (n, T, d)
    kernel, bias = network.get_layer("probabilities").get_weights()
    d = features.shape[-1]
    cam = np.asarray(features) @ kernel[:d, class_index]
    aux = np.asarray(inputs[1]) if len(inputs) > 1 else np.zeros((len(cam), 0), np.float32)
    return cam, aux @ kernel[d:, class_index] + bias[class_index]
