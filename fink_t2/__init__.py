"""fink-t2: real-time classification of ZTF and Rubin (LSST) alerts with the t2 transformer, as a Fink science module."""
from .ztf import classify_alerts, classify_lightcurves
from .models import DEFAULT_MODEL, load_model

__version__ = "0.1.0"
__all__ = ["classify_alerts", "classify_lightcurves", "load_model", "DEFAULT_MODEL", "__version__"]
