"""The surveys whose alerts this package reads, each by its adapter module (``ztf``, ``rubin``)."""
from typing import Optional

from . import rubin, ztf
from .cuts import SelectionCuts
from .models import DEFAULT_MODELS, default_min_bands

#: Survey name -> its adapter: ``BANDS``, ``WAVELENGTHS_A``, ``default_cuts``, ``lightcurves_from_alerts``,
#: ``classify_alerts``.
ADAPTERS = {"ztf": ztf, "lsst": rubin}
SURVEYS = tuple(ADAPTERS)


def survey_of_names(names) -> str:
    """``"lsst"`` where the alert columns (or Avro fields) include ``diaSource``, else ``"ztf"`` (``candidate``
    or Fink's history columns)."""
    return "lsst" if rubin.SOURCE_COLUMN in set(names) else "ztf"


def default_cuts_for(card: dict, survey: Optional[str] = None) -> SelectionCuts:
    """The default cuts of ``survey`` (default: the model's) for the model of ``card``: as many bands as its card
    asks (``models.default_min_bands``)."""
    return ADAPTERS[survey or card.get("survey", "ztf")].default_cuts(default_min_bands(card))


def check_model_survey(card: dict, survey: str):
    """ValueError unless the model's bands are those of the survey's light curves."""
    bands = ADAPTERS[survey].BANDS
    if tuple(card["bands"]) != tuple(bands):
        raise ValueError(f"model '{card['id']}' takes bands {' '.join(card['bands'])}; {survey.upper()} alerts "
                         f"need a model of bands {' '.join(bands)} (e.g. {DEFAULT_MODELS[survey]})")
