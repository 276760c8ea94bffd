"""Committees: one model whose probabilities are the mean of those of models trained by different recipes.

A seed ensemble (``ensemble``) averages networks of one recipe inside one ONNX graph. Models of different
recipes read different inputs from the same GP mean (input scaling, time channels, the object's age), so a
committee runs each member as the model it is, on the one GP fit they share (they must share its
preparation), and averages their probabilities, each calibrated by its member's temperature. Where the
committee's card has host-redshift densities, the update (``redshift``) applies once, to the mean.

The card holds no weights: it names its members, pins their files (sha256) and temperatures, which
``models.load_model`` checks, and sets the band cut of its default cuts (``min_bands``). Its members are
cross-validated by the same folds (``training.fold_of``, the same fold file names), so committee fold k is
the mean of the members' fold-k models and is cross-validated as they are. Writing a card needs NumPy only.
"""
import json
from pathlib import Path
from typing import Optional

from .classify import GPPreparation
from .models import ModelError, card_path, default_min_bands, read_card

#: What the members must share for their probabilities to be averaged over one GP fit.
SHARED_ENTRIES = ("classes", "bands", "wavelengths_a", "weights")


def member_entry(card: dict) -> dict:
    """What a committee pins of a member: its name, files and temperatures."""
    return {"model": card["id"], "sha256": card["source"]["sha256"],
            "temperature": card.get("calibration", {}).get("temperature", {})}


def check_members(cards: list):
    """Raise ``ModelError`` unless ``cards`` (at least two single models) can form a committee."""
    if len(cards) < 2:
        raise ModelError("a committee needs at least two member models")
    first = cards[0]
    for card in cards:
        if "committee" in card:
            raise ModelError(f"model '{card['id']}' is a committee: its members can join instead")
        differing = [entry for entry in SHARED_ENTRIES if card.get(entry) != first.get(entry)]
        if card.get("survey", "ztf") != first.get("survey", "ztf"):
            differing.append("survey")
        if GPPreparation.of_card(card) != GPPreparation.of_card(first):
            differing.append("GP preparation")
        cv, first_cv = card.get("cv", {}), first.get("cv", {})
        if [cv.get(k) for k in ("folds", "assignment", "weights")] != [first_cv.get(k) for k in
                                                                        ("folds", "assignment", "weights")]:
            differing.append("cross-validation folds")
        if differing:
            raise ModelError(f"models '{first['id']}' and '{card['id']}' differ in {', '.join(differing)}: "
                             "they cannot be averaged over one GP fit")


def build(name: str, member_names, out_dir=None, min_bands: Optional[int] = None) -> dict:
    """Write the card ``<out_dir>/<name>.json`` (default: beside the first member's card) of the committee
    of the models ``member_names`` and return it. ``min_bands``: the band cut of its default cuts (default:
    the members' common one)."""
    cards = [read_card(member) for member in member_names]
    check_members(cards)
    first = cards[0]
    if min_bands is None:
        cut = {default_min_bands(card) for card in cards}
        if len(cut) > 1:
            raise ModelError(f"the members cut at {sorted(cut)} bands: choose the committee's min_bands")
        min_bands = cut.pop()
    data = []
    for card in cards:  # every table some member was cross-validated on, in order
        tables = card.get("cv", {}).get("data", [])
        data += [t for t in ([tables] if isinstance(tables, str) else tables) if t not in data]
    gp_entries = ("survey", "event_window_days", "bin_days", "gp_max_points", "gp_fit_max_points", "n_times")
    card = {
        "id": name,
        "description": f"Committee of {', '.join(member_names)}: the mean of their calibrated probabilities, "
                       "each member run on the one GP fit they share.",
        "format": "committee",
        "committee": {"members": [member_entry(c) for c in cards],
                      "combination": "mean of the members' probabilities, each with its own temperature"},
        **{entry: first[entry] for entry in (*SHARED_ENTRIES, *gp_entries) if entry in first},
        "min_bands": int(min_bands),
        "n_parameters": sum(c["n_parameters"] for c in cards),
        "source": {"sha256": {}},  # no files of its own
        "calibration": {"method": "the members' temperatures, applied before the mean"},
        "training": {"seconds": sum(c["training"]["seconds"] for c in cards),
                     "note": "the members' recorded training times, summed (each member's card says how it was "
                             "measured)"},
    }
    if all("cv" in c for c in cards):
        card["cv"] = {**first["cv"], "data": data[0] if len(data) == 1 else data}
    out = Path(out_dir) if out_dir else card_path(member_names[0]).parent
    (out / f"{name}.json").write_text(json.dumps(card, indent=2) + "\n")
    return card
