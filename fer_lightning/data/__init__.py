from fer_lightning.data.arrays import FERArrays
from fer_lightning.data.datamodule import FER2013DataModule
from fer_lightning.data.synthetic import make_synthetic_fer
from fer_lightning.data.audit import audit, drop_leaks, leak_mask
from fer_lightning.data.readers import FERDataError, load_fer2013
