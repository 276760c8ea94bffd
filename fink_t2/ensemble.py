"""Seed ensembles: one model whose probabilities are the mean of several models trained by one recipe.

Models trained by ``fink-t2 train`` with the same command and different ``--seed`` differ by their draws
and initial weights; the mean of their probabilities varies less from seed to seed than any one of them
(Lakshminarayanan et al. 2017). ``combine`` copies each member's weight files into a folder of its own,
``seed<S>/``, and writes one card: the members' common settings, ``ensemble.members`` (folder, seed,
input scaling, training seconds), their class weights under ``<folder>/<weight file>``, and then the ONNX
graphs (``onnx_export``): one per weight file of the card (the model and each cross-validation fold),
each the mean of the members' networks for that file (``t2net.load_network``), so inference runs an
ensemble as it runs any model, in one call.

The cross-validation folds come from the object ids alone (``training.fold_of``), so fold k of every
member leaves out the same objects, and the ensemble of the fold-k models is cross-validated as each
member is. Calibration and figures belong to the ensemble: run ``fink-t2 calibrate`` and ``evaluate``
on it. Needs the ``train`` extra.
"""
import json
import shutil
from pathlib import Path

from .classify import GPPreparation
from .models import ModelError, reads_forced_photometry, verify_files

#: Card entries every member must share as they are written (the others of ``recipe`` as inference reads them).
SHARED_ENTRIES = ("format", "classes", "bands", "wavelengths_a", "time_channels", "aux_inputs")
#: Entries of the first member's card that describe that member alone, left out of the ensemble's.
MEMBER_ENTRIES = ("onnx", "calibration", "metrics", "seed_spread")


def recipe(card: dict) -> dict:
    """What the members of an ensemble must share: ``SHARED_ENTRIES``, and as inference reads them (an older
    card leaves out entries whose default it had) the survey, the GP's preparation (window, bins, thinning,
    times), forced photometry and the architecture; the expert's classes and the folds."""
    from .t2net import ARCHITECTURE_DEFAULTS, HEADS  # imports Keras (the train extra)

    cv = card.get("cv", {})
    return {**{entry: card.get(entry) for entry in SHARED_ENTRIES},
            "survey": card.get("survey", "ztf"), "GP preparation": GPPreparation.of_card(card),
            "forced_photometry": reads_forced_photometry(card),
            "architecture": {**ARCHITECTURE_DEFAULTS, "head": HEADS[0], **card.get("architecture", {})},
            "expert classes": card.get("expert", {}).get("classes"),
            "folds": [cv.get(key) for key in ("folds", "data", "assignment")]}


def check_members(cards: list):
    """Raise ``ModelError`` unless ``cards`` (at least two) can be averaged: single models trained by
    fink-t2, of one ``recipe``, with different seeds."""
    if len(cards) < 2:
        raise ModelError("an ensemble needs at least two member models")
    first = recipe(cards[0])
    for card in cards:
        if card.get("format") != "keras3_weights" or "ensemble" in card:
            raise ModelError(f"model '{card.get('id')}' is not a single model trained by fink-t2: it cannot be "
                             "a member")
        differing = [entry for entry, value in recipe(card).items() if value != first[entry]]
        if differing:
            raise ModelError(f"models '{cards[0]['id']}' and '{card['id']}' differ in {', '.join(differing)}: "
                             "members must be trained by the same recipe")
    seeds = [card["training"]["seed"] for card in cards]
    if len(set(seeds)) < len(seeds):
        raise ModelError(f"members must have different seeds; they have {seeds}")


def combine(member_cards, out) -> dict:
    """Write the ensemble of the models whose cards are ``member_cards`` into ``out`` (weights folder; the
    card goes to ``out.parent / (out.name + '.json')``), export its ONNX graphs and return its card."""
    from .onnx_export import export_onnx

    out = Path(out)
    card_files = [Path(c) for c in member_cards]
    cards = [json.loads(c.read_text()) for c in card_files]
    check_members(cards)
    out.mkdir(parents=True, exist_ok=True)
    members, sha256, class_weights = [], {}, {}
    for card, card_file in zip(cards, card_files):
        root = verify_files(card, card_file.parent)
        folder = f"seed{card['training']['seed']}"
        shutil.rmtree(out / folder, ignore_errors=True)
        (out / folder).mkdir()
        weight_files = [f for f in card["source"]["sha256"] if f.endswith(".weights.h5")]
        for filename in weight_files:
            shutil.copyfile(root / filename, out / folder / filename)
            sha256[f"{folder}/{filename}"] = card["source"]["sha256"][filename]
        class_weights.update({f"{folder}/{f}": w for f, w in card.get("class_weights", {}).items()})
        members.append({"folder": folder, "seed": card["training"]["seed"], "id": card["id"],
                        "input_scaling": card["input_scaling"], "training_seconds": card["training"]["seconds"]})
    first = cards[0]
    card = {key: value for key, value in first.items() if key not in MEMBER_ENTRIES}
    card.update({
        "id": out.name,
        "description": f"{first['description']} Ensemble: the mean of the probabilities of {len(cards)} models "
                       f"trained by one recipe with seeds {', '.join(str(m['seed']) for m in members)}.",
        "source": {"path": out.name, "sha256": sha256},
        "n_parameters": sum(c["n_parameters"] for c in cards),
        "class_weights": class_weights,
        "ensemble": {"members": members, "combination": "mean of the members' probabilities, each member's "
                                                        "general network and expert as in a single model"},
        "training": {**{k: v for k, v in first["training"].items() if k != "note"},  # a note is one member's
                     "seed": [m["seed"] for m in members], "seconds": sum(m["training_seconds"] for m in members)},
    })
    card_file = out.parent / f"{out.name}.json"
    card_file.write_text(json.dumps(card, indent=2) + "\n")
    return export_onnx(card_file)
