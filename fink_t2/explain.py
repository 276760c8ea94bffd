"""Why a light curve got its class: one object's points, GP, probabilities and class activation map.

``explain`` returns the arrays; ``plot`` draws them in one figure. The class activation map
(``t2net.class_activation_map``) is that of the network whose output decides the predicted class:
the real-data expert for the classes it covers, the general network otherwise. It needs the Keras
networks (the ``train`` extra) and the GP's standard deviation needs george (the ``evaluate`` extra);
the probabilities are those of the module's inference path (ONNX Runtime, calibrated).
"""
from pathlib import Path
from typing import Optional

import numpy as np

from . import gp
from .classify import STATUS_OK, GPPreparation
from .cuts import SelectionCuts, apply_cuts
from .lightcurves import LightCurves
from .models import DEFAULT_MODEL, check_model, default_min_bands, load_model, network_inputs
from .realdata import HISTORY_FIELDS, alert_histories
from .ztf import LIGHTCURVE_COLUMNS, lightcurves_from_alerts, lightcurves_from_table

ALERT_COLUMNS = ["objectId", "candidate", "prv_candidates"]


def object_lightcurve(path, object_id: str) -> LightCurves:
    """The light curve of ``object_id`` in an alert file (parquet or Avro: its alert with the longest
    history) or in a light-curve table (parquet with ``LIGHTCURVE_COLUMNS``)."""
    import pandas as pd
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from .alerts_io import InputError, input_format, read_avro_table

    path = Path(path)
    if input_format(path) == "avro":
        table = read_avro_table(path)
    else:
        names = set(pq.ParquetDataset(path).schema.names)
        if set(LIGHTCURVE_COLUMNS) <= names:
            points = pd.read_parquet(path, columns=list(LIGHTCURVE_COLUMNS))
            lightcurves, ids = lightcurves_from_table(points[points.objectId == object_id])
            if len(ids) == 0:
                raise InputError(f"{path}: no object {object_id!r}")
            return lightcurves
        if not set(ALERT_COLUMNS) <= names:
            raise InputError(f"{path}: neither alerts ({ALERT_COLUMNS}) nor a light-curve table "
                             f"({list(LIGHTCURVE_COLUMNS)})")
        table = pq.read_table(path, columns=ALERT_COLUMNS)
    table = table.filter(pc.equal(table.column("objectId"), object_id))
    if table.num_rows == 0:
        raise InputError(f"{path}: no alert of object {object_id!r}")
    histories = alert_histories(table)
    longest = int(np.argmax([len(jd) for jd in histories["jd"]]))
    return lightcurves_from_alerts(*([histories[field][longest]] for field in HISTORY_FIELDS))


def explain(path, object_id: str, model_name: Optional[str] = None) -> dict:
    """The arrays behind a classification of ``object_id`` (see ``object_lightcurve`` for ``path``).

    Returns a dict: ``points`` (time_days, flux_fluxcal, fluxerr_fluxcal, band index, each (m,)),
    ``times_days`` (T,) the GP grid, ``gp_mean`` and ``gp_std`` (T, B) FLUXCAL, ``bands``,
    ``classes``, ``probabilities`` (K,), ``uncertainty``, ``predicted`` (class name), ``network``
    (``general`` or ``expert``; of an ensemble, its first member's), ``cam`` (T,) and ``logit_rest`` (the
    auxiliary inputs' and bias's share of the predicted class's logit: ``cam.mean() + logit_rest`` is that
    logit).
    """
    from .t2net import class_activation_map, load_networks, member_files

    model_name = model_name or DEFAULT_MODEL
    card, root = check_model(model_name)
    if "committee" in card:
        raise ValueError(f"model '{model_name}' is a committee: explain one of its members "
                         f"({', '.join(m['model'] for m in card['committee']['members'])})")
    if card["format"] != "keras3_weights":
        raise ValueError(f"model '{model_name}' is not a t2 model trained by fink-t2: no class activation map")
    lightcurves = object_lightcurve(path, object_id)
    status = apply_cuts(lightcurves, SelectionCuts(min_bands=default_min_bands(card)))
    if status[0] != STATUS_OK:
        raise ValueError(f"object {object_id!r} is not classified ({status[0]})")
    preparation = GPPreparation.of_card(card)
    lightcurves, gp_mean, fit = preparation.interpolate(lightcurves, card["wavelengths_a"])
    span_days = lightcurves.jd_last - lightcurves.jd_first
    probabilities, uncertainty = load_model(model_name).predict(gp_mean, span_days)
    predicted = card["classes"][int(np.argmax(probabilities[0]))]

    general, expert = load_networks(card, root, member_files(card, card["weights"])[0])
    in_expert = expert is not None and predicted in card["expert"]["classes"]
    network, classes = (expert, card["expert"]["classes"]) if in_expert else (general, card["classes"])
    cam, logit_rest = class_activation_map(network, network_inputs(gp_mean, span_days, card), classes.index(predicted))
    m = lightcurves.mask[0]
    return {
        "object_id": object_id, "model": model_name, "bands": list(card["bands"]), "classes": list(card["classes"]),
        "points": {"time_days": lightcurves.time_days[0, m], "flux_fluxcal": lightcurves.flux_fluxcal[0, m],
                   "fluxerr_fluxcal": lightcurves.fluxerr_fluxcal[0, m], "band": lightcurves.band[0, m].astype(int)},
        "times_days": gp.prediction_times(lightcurves, preparation.n_times)[0], "gp_mean": gp_mean[0],
        "gp_std": gp.posterior_std(lightcurves, fit.log_params, card["wavelengths_a"], preparation.n_times)[0],
        "probabilities": probabilities[0], "uncertainty": float(uncertainty[0]), "predicted": predicted,
        "network": "expert" if in_expert else "general", "cam": cam[0], "logit_rest": float(logit_rest[0]),
    }


def plot(explanation: dict, out) -> None:
    """One PNG: light curve with the GP mean and 1-sigma band per band, the class activation map of the
    predicted class along the same time axis, and the class probabilities."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    e = explanation
    colours = {"g": "tab:green", "r": "tab:red", "i": "tab:brown", "u": "tab:purple", "z": "tab:grey", "y": "black"}
    fig = plt.figure(figsize=(10, 6.5))
    grid = fig.add_gridspec(2, 2, width_ratios=[2.2, 1], height_ratios=[3, 1], hspace=0.08)
    ax_lc = fig.add_subplot(grid[0, 0])
    ax_cam = fig.add_subplot(grid[1, 0], sharex=ax_lc)
    ax_p = fig.add_subplot(grid[:, 1])
    points, t = e["points"], e["times_days"]
    for b, name in enumerate(e["bands"]):
        colour = colours.get(name, f"C{b}")
        mean, std = e["gp_mean"][:, b], e["gp_std"][:, b]
        ax_lc.plot(t, mean, color=colour, lw=1.5, label=f"{name}: GP mean ± 1σ")
        ax_lc.fill_between(t, mean - std, mean + std, color=colour, alpha=0.2, lw=0)
        own = points["band"] == b
        ax_lc.errorbar(points["time_days"][own], points["flux_fluxcal"][own], points["fluxerr_fluxcal"][own],
                       fmt="o", ms=4, color=colour, label=f"{name}: observed")
    ax_lc.set_ylabel("flux (FLUXCAL, zero point 27.5)")
    ax_lc.legend(fontsize=8)
    ax_lc.set_title(f"{e['object_id']}: {e['predicted']} (p = {e['probabilities'].max():.2f}, "
                    f"uncertainty {e['uncertainty']:.2f}), {e['model']}", fontsize=10)
    plt.setp(ax_lc.get_xticklabels(), visible=False)
    ax_cam.fill_between(t, 0, e["cam"], where=e["cam"] >= 0, color="tab:blue", alpha=0.6, step="mid", lw=0)
    ax_cam.fill_between(t, 0, e["cam"], where=e["cam"] < 0, color="tab:orange", alpha=0.6, step="mid", lw=0)
    ax_cam.axhline(0, color="black", lw=0.5)
    ax_cam.set_ylabel(f"CAM\n({e['network']})", fontsize=8)
    ax_cam.set_xlabel("days since the first point kept")
    order = np.argsort(e["probabilities"])
    ax_p.barh(np.arange(len(order)), e["probabilities"][order],
              color=["tab:blue" if e["classes"][k] == e["predicted"] else "grey" for k in order])
    ax_p.set_yticks(np.arange(len(order)), [e["classes"][k] for k in order], fontsize=8)
    ax_p.set_xlim(0, 1)
    ax_p.set_xlabel("probability")
    fig.savefig(out, dpi=120, bbox_inches="tight")
    plt.close(fig)
