"""Hyper-parameter search with Optuna, behind the Hydra sweeper `hydra/sweeper=optuna`
(hydra_plugins/fer_optuna_sweeper): search spaces in Hydra's override grammar (`space`), the persistent
study and what counts toward its target (`study`), trials shared by concurrent workers (`trials`), the
training job's side of a trial (`pruning.OptunaTrialCallback`) and the end-of-study summary (`summary`).

Nothing else in fer_lightning imports this package: the sweeper plugin, which Hydra imports at every start,
loads it (and Optuna) only when a sweep begins.
"""
