"""`hydra/sweeper=optuna`: an Optuna sweeper (ask-and-tell, Optuna >= 4) for fer_lightning.

Hydra imports every module of this package when it scans for plugins, at each start of the app: the
modules import Hydra only; Optuna and the library (fer_lightning.hpo) load when a sweep starts.
"""
