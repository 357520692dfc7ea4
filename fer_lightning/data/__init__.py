from fer_lightning.data.arrays import FERArrays
