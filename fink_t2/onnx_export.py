"""Export trained models to ONNX, the graphs that inference runs in ONNX Runtime (needs the ``train`` extra).

For every weight file of a ``keras3_weights`` card (the model and its cross-validation fold
models), the whole Keras model that the Keras engine builds (general network, class weights
divided out, expert) becomes one graph, ``<weights stem>.onnx`` beside the weights, exported with
ONNX opset ``OPSET``, which ONNX Runtime 1.16 (the version in Fink's ZTF image) loads. The card
gains ``onnx = {"opset", "exporter", "files": {weight file: graph}}`` and the graphs' sha256.
Each graph is checked against Keras on random inputs before the card is written.
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
    import onnxruntime
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
        expected = np.asarray(network(inputs, training=False))  # Keras exports only a model that was called
        graph = weights.replace(".weights.h5", ".onnx")
        network.export(str(root / graph), format="onnx", opset_version=OPSET, verbose=False)
        session = onnxruntime.InferenceSession(str(root / graph), providers=["CPUExecutionProvider"])
        got = session.run(None, {i.name: x for i, x in zip(session.get_inputs(), inputs)})[0]
        if not np.abs(got - expected).max() <= TOLERANCE:
            raise ModelError(f"{root / graph}: ONNX Runtime differs from Keras by {np.abs(got - expected).max():.2e}")
        files[weights] = graph
    card["onnx"] = {"opset": OPSET, "exporter": f"keras {keras.__version__}, tf2onnx {tf2onnx.__version__}",
                    "files": files}
    card["source"]["sha256"].update({graph: file_sha256(root / graph) for graph in files.values()})
    card_file.write_text(json.dumps(card, indent=2) + "\n")
    return card
