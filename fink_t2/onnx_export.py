"""Export trained models to ONNX, the graphs that inference runs in ONNX Runtime (needs the ``train`` extra).

For every weight file of a ``keras3_weights`` card (the model and its cross-validation fold
models), the whole Keras model that the Keras engine builds (general network, class weights
divided out, expert) becomes one graph, ``<weights stem>.onnx`` beside the weights, exported with
ONNX opset ``OPSET``, which ONNX Runtime 1.16 (the version in Fink's ZTF image) loads. The card
gains ``onnx = {"opset", "exporter", "files": {weight file: graph}}`` and the graphs' sha256.
Each graph is checked against Keras on random inputs before the card is written.

Two rewrites follow the export:

- ``softmax_over_last_axis``: tf2onnx computes the attention scores transposed, keys by queries, and
  normalises them over axis 2, which ONNX Runtime runs through a transpose, the softmax and a transpose
  back; computing queries by keys instead puts the softmax on the last axis and drops the transposes: the
  same numbers, 0.79 -> 0.48 ms per object for t2-ztf-gr-v3 (one thread, 64 objects per call).
- ``fused_layer_normalization``: tf2onnx spells each layer normalisation out in 13 elementwise and pooling
  nodes; ONNX's ``LayerNormalization`` operator (opset 17) does it in one.
"""
import json
from pathlib import Path

import numpy as np

from .models import ModelError, file_sha256, verify_files

OPSET = 17
#: Largest |ONNX Runtime - Keras| probability accepted at export.
TOLERANCE = 1e-5


def export_onnx(card_file) -> dict:
    """Write the ONNX graphs of the model whose card is ``card_file`` and record them in the card."""
    import keras
    import tf2onnx

    from .t2net import load_network

    card_file = Path(card_file)
    card = json.loads(card_file.read_text())
    if card["format"] != "keras3_weights":
        raise ModelError(f"model '{card['id']}' has format {card['format']!r}: only models trained by fink-t2 "
                         "(keras3_weights) are exported")
    root = verify_files(card, card_file.parent)
    rng = np.random.default_rng(0)
    files = {}
    for weights in [card["weights"], *card.get("cv", {}).get("weights", [])]:
        network = load_network(card, root, weights)
        inputs = [rng.normal(size=(8, *t.shape[1:])).astype(np.float32) for t in network.inputs]
        graph = weights.replace(".weights.h5", ".onnx")
        difference = export_graph(network, root / graph, inputs)
        if not difference <= TOLERANCE:
            raise ModelError(f"{root / graph}: ONNX Runtime differs from Keras by {difference:.2e}")
        files[weights] = graph
    card["onnx"] = {"opset": OPSET, "exporter": f"keras {keras.__version__}, tf2onnx {tf2onnx.__version__}",
                    "files": files}
    card["source"]["sha256"].update({graph: file_sha256(root / graph) for graph in files.values()})
    card_file.write_text(json.dumps(card, indent=2) + "\n")
    return card


def export_graph(network, path, inputs) -> float:
    """Write the ONNX graph of Keras model ``network`` to ``path`` (the export, then the rewrites below) and
    return the largest |difference| between ONNX Runtime's outputs and Keras's on ``inputs``."""
    import onnx
    import onnxruntime

    expected = np.asarray(network(inputs, training=False))  # Keras exports only a model that was called
    network.export(str(path), format="onnx", opset_version=OPSET, verbose=False)
    onnx.save(fused_layer_normalization(softmax_over_last_axis(onnx.load(str(path)))), str(path))
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {i.name: x for i, x in zip(session.get_inputs(), inputs)})[0]
    return float(np.abs(got - expected).max())


def _consumers(graph) -> dict:
    """Tensor name -> the nodes that read it (each node once)."""
    consumers = {}
    for node in graph.node:
        for name in dict.fromkeys(node.input):
            consumers.setdefault(name, []).append(node)
    return consumers


def softmax_over_last_axis(model):
    """The ONNX ``model`` with each attention block's scores computed queries x keys and normalised over
    the last axis: the pattern ``Transpose(K) -> MatMul(K, Q^T) -> Softmax(axis=2) -> Transpose(0,1,3,2)``
    becomes ``MatMul(Q, K^T) -> Softmax(axis=3)``; other graphs are left as they are."""
    graph = model.graph
    producer = {output: node for node in graph.node for output in node.output}
    consumers = _consumers(graph)

    def perm(node):
        return list(node.attribute[0].ints) if node.op_type == "Transpose" else None

    dropped = []
    for softmax in [node for node in graph.node if node.op_type == "Softmax"]:
        if [a.i for a in softmax.attribute if a.name == "axis"] != [2]:
            continue
        scores, after = producer.get(softmax.input[0]), consumers.get(softmax.output[0], [])
        if scores is None or scores.op_type != "MatMul" or len(after) != 1 or perm(after[0]) != [0, 1, 3, 2]:
            continue
        keys, queries_t = producer.get(scores.input[0]), producer.get(scores.input[1])
        if keys is None or queries_t is None or perm(keys) != [0, 2, 1, 3] or perm(queries_t) != [0, 2, 3, 1]:
            continue
        keys.attribute[0].ints[:] = [0, 2, 3, 1]        # K (B, N, S, d) -> K^T (B, N, d, S)
        queries_t.attribute[0].ints[:] = [0, 2, 1, 3]   # Q^T (B, N, d, T) -> Q (B, N, T, d)
        scores.input[0], scores.input[1] = queries_t.output[0], keys.output[0]
        next(a for a in softmax.attribute if a.name == "axis").i = 3
        for node in consumers.get(after[0].output[0], []):
            node.input[:] = [softmax.output[0] if name == after[0].output[0] else name for name in node.input]
        dropped.append(after[0])
    for node in dropped:
        graph.node.remove(node)
    return model


def fused_layer_normalization(model):
    """The ONNX ``model`` with each layer normalisation over the last axis as tf2onnx writes it,
    ``mean = GlobalAveragePool(x)``, ``var = GlobalAveragePool((x - mean)**2)``,
    ``g = gamma / Sqrt(var + eps)``, ``x * g + (-mean * g + beta)``, made one ``LayerNormalization`` node
    (the same numbers to float32 rounding); other graphs are left as they are."""
    from onnx import helper, numpy_helper

    graph = model.graph
    constants = {tensor.name: tensor for tensor in graph.initializer}
    consumers = _consumers(graph)

    def single(name, op_type):
        """The one node reading ``name`` if it is an ``op_type``, else None."""
        nodes = consumers.get(name, [])
        return nodes[0] if len(nodes) == 1 and nodes[0].op_type == op_type else None

    def chain(name, *op_types):
        """The nodes of a chain of single readers from ``name``, or None where it breaks."""
        nodes = []
        for op_type in op_types:
            node = single(name, op_type)
            if node is None:
                return None
            nodes.append(node)
            name = node.output[0]
        return nodes

    def other_input(node, name):
        return next(i for i in node.input if i != name)

    fused = []
    for mean in [node for node in graph.node if node.op_type == "GlobalAveragePool"]:
        x = mean.input[0]
        readers = {node.op_type: node for node in consumers.get(mean.output[0], [])}
        if set(readers) != {"Neg", "Sub"} or list(readers["Sub"].input) != [x, mean.output[0]]:
            continue
        negative, difference = readers["Neg"], readers["Sub"]
        variance = chain(difference.output[0], "Mul", "GlobalAveragePool", "Add", "Sqrt", "Reciprocal", "Mul")
        if variance is None or variance[0].input[0] != variance[0].input[1]:
            continue
        square, pooled, plus_epsilon, root, inverse, gain = variance
        gain_readers = {i: node for node in consumers.get(gain.output[0], []) for i in node.input}
        times_x, times_negative = gain_readers.get(x), gain_readers.get(negative.output[0])
        shift = times_negative is not None and chain(times_negative.output[0], "Add", "Add")
        if times_x is None or times_x.op_type != "Mul" or not shift:
            continue
        plus_beta, total = shift
        epsilon, gamma = other_input(plus_epsilon, pooled.output[0]), other_input(gain, inverse.output[0])
        beta = other_input(plus_beta, times_negative.output[0])
        if (not {epsilon, gamma, beta} <= constants.keys()
                or set(total.input) != {times_x.output[0], plus_beta.output[0]}):
            continue
        scale, bias = (numpy_helper.from_array(numpy_helper.to_array(constants[name]).ravel(), f"{name}/layer_norm")
                       for name in (gamma, beta))
        graph.initializer.extend([scale, bias])
        node = helper.make_node("LayerNormalization", [x, scale.name, bias.name], [total.output[0]],
                                name=f"{mean.name}/layer_norm", axis=-1,
                                epsilon=float(numpy_helper.to_array(constants[epsilon])))
        fused.append((node, [mean, negative, difference, *variance, times_x, times_negative, plus_beta, total]))
    for node, replaced in fused:
        graph.node.insert(list(graph.node).index(replaced[-1]), node)
        for old in replaced:
            graph.node.remove(old)
    used = {name for node in graph.node for name in node.input}
    for tensor in [tensor for tensor in graph.initializer if tensor.name not in used]:
        graph.initializer.remove(tensor)
    return model
