"""Write the bundled quick-start input, fink_t2/data/sample_alerts.parquet.

Synthetic ZTF-like alerts in the Fink parquet schema (the fields the module
reads), made from simple light-curve shapes so that no real alert is copied:
rising-and-falling supernova-like transients (Bazin 2009 profile), a slow
variable, and alerts that the selection cuts must reject (too few points,
i-band only, a known asteroid, a star in SIMBAD). Deterministic.

    python scripts/make_sample.py
"""
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

OUT = Path(__file__).resolve().parent.parent / "fink_t2" / "data" / "sample_alerts.parquet"
JD0 = 2460600.5
LIMITING_MAG = 20.5
ALERT_FIELDS = [("jd", pa.float64()), ("fid", pa.int32()), ("magpsf", pa.float32()), ("sigmapsf", pa.float32()),
                ("isdiffpos", pa.string()), ("diffmaglim", pa.float32())]
SCHEMA = pa.schema([
    ("candid", pa.int64()), ("objectId", pa.string()),
    ("candidate", pa.struct(ALERT_FIELDS + [("jdstarthist", pa.float64()), ("ndethist", pa.int32())])),
    ("prv_candidates", pa.list_(pa.struct(ALERT_FIELDS))), ("cdsxmatch", pa.string()), ("roid", pa.int32()),
])


def bazin_mag(t, peak_mag, t0, rise, fall):
    """Magnitude of a Bazin (2009) transient profile peaking near ``peak_mag``."""
    shape = np.exp(-(t - t0) / fall) / (1.0 + np.exp(-(t - t0) / rise))
    return peak_mag - 2.5 * np.log10(np.maximum(shape / shape.max(), 1e-6))


def observe(rng, mag_of, fids, days, start):
    """ZTF-like epochs every ~2 nights alternating filters: list of point dicts."""
    points = []
    for i, t in enumerate(np.arange(0.0, days, 1.0) + rng.uniform(0, 0.3)):
        if rng.random() < 0.45:  # weather and scheduling
            continue
        fid = fids[i % len(fids)]
        mag = mag_of(t, fid)
        if mag > LIMITING_MAG:
            points.append(dict(jd=start + t, fid=fid, magpsf=None, sigmapsf=None, isdiffpos=None,
                               diffmaglim=LIMITING_MAG))
            continue
        sigma = 0.02 + 0.1 * 10 ** (0.4 * (mag - LIMITING_MAG))
        points.append(dict(jd=start + t, fid=fid, magpsf=float(mag + rng.normal(0, sigma)), sigmapsf=float(sigma),
                           isdiffpos="t", diffmaglim=LIMITING_MAG))
    return points


def alerts_of(object_id, points, n_alerts, cdsxmatch="Unknown", roid=0, candid0=0):
    """Up to ``n_alerts`` alerts of one object, each with the 30 days of history before it."""
    detections = [p for p in points if p["magpsf"] is not None]
    rows = []
    for k, current in enumerate(detections[-n_alerts:]):
        history = [p for p in points if current["jd"] - 30 <= p["jd"] < current["jd"]]
        rows.append(dict(candid=candid0 + k, objectId=object_id, cdsxmatch=cdsxmatch, roid=roid,
                         candidate=dict(current, jdstarthist=detections[0]["jd"], ndethist=len(detections)),
                         prv_candidates=history))
    return rows


def main():
    rng = np.random.default_rng(2026)
    rows = []
    for n in range(12):  # supernova-like transients in g and r
        peak, rise, fall = rng.uniform(17.5, 19.5), rng.uniform(2, 6), rng.uniform(15, 60)
        color = {1: rng.uniform(-0.2, 0.1), 2: 0.0}
        t0 = rng.uniform(10, 20)
        points = observe(rng, lambda t, fid: bazin_mag(t, peak + color[fid], t0, rise, fall + 10 * (fid == 2)),
                         (1, 2), rng.uniform(25, 45), JD0 + n)
        rows += alerts_of(f"ZTF26synth{n:03d}", points, 3, candid0=1000 * (n + 1))
    slow = observe(rng, lambda t, fid: 18.0 + 0.4 * np.sin(t / 9.0) + 0.3 * (fid == 2), (1, 2), 40, JD0)
    rows += alerts_of("ZTF26synthvar", slow, 2, candid0=90000)
    rows += alerts_of("ZTF26synthstar", slow, 1, cdsxmatch="RRLyr", candid0=91000)
    rows += alerts_of("ZTF26synthsso", slow, 1, roid=3, candid0=92000)
    ionly = observe(rng, lambda t, fid: 18.5, (3,), 20, JD0)
    rows += alerts_of("ZTF26synthiband", ionly, 1, candid0=93000)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), OUT)
    print(f"{len(rows)} alerts -> {OUT}")


if __name__ == "__main__":
    main()
