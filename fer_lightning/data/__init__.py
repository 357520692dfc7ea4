"""FER-2013 in every public layout, the synthetic stand-in, hygiene checks and the DataModule."""

from fer_lightning.data.arrays import FERArrays
from fer_lightning.data.audit import audit, drop_leaks, leak_mask
from fer_lightning.data.readers import FERDataError, load_fer2013
from fer_lightning.data.synthetic import make_synthetic_fer

__all__ = [
    "FER2013DataModule",
    "FERArrays",
    "FERDataError",
    "audit",
    "drop_leaks",
    "leak_mask",
    "load_fer2013",
    "make_synthetic_fer",
]


def __getattr__(name: str):
    # The DataModule pulls in Lightning (seconds of imports); `python -m fer_lightning.data inspect`
    # and the readers do not need it.
    if name == "FER2013DataModule":
        from fer_lightning.data.datamodule import FER2013DataModule

        return FER2013DataModule
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
