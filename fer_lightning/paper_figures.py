"""Khaireddin & Chen 2021 (arXiv 2105.03588): the numbers of its optimizer and scheduler figures, keyed by
this project's config names, so that a sweep report can show the paper beside a matching grid.

Bar-chart values were read off the figures (≈, about ±0.02 points); only the final model's 73.06 % test
accuracy is printed in the text. Accuracy in %, val = PrivateTest, test = PublicTest (the paper's roles).
The paper trained VGGNet on real FER-2013 for 300 epochs: our numbers compare only under that protocol.
"""

from __future__ import annotations

from dataclasses import dataclass

CAVEAT = "≈ read off the paper's bar charts (±0.02); val = PrivateTest, test = PublicTest"
PAPER = "Khaireddin & Chen 2021"


@dataclass(frozen=True)
class PaperFigure:
    """One figure: accuracy per (optimizer, scheduler) config choice and split; `model` is the model
    choice it was measured with."""

    name: str
    model: str
    cells: dict[tuple[str, str], dict[str, float]]


# Optimizer figure: constant lr 0.001 (conf/scheduler/constant) vs plateau schedule from 0.01; val only.
_OPTIMIZER_VAL = {
    "adadelta": (68.57, 67.62),
    "adagrad": (71.55, 70.85),
    "adam": (71.55, 72.39),
    "amsgrad": (71.64, 71.91),
    "asgd": (72.62, 72.39),
    "sgd": (73.08, 72.22),
    "sgd_nesterov": (73.25, 73.59),
}

OPTIMIZER_FIGURE = PaperFigure(
    name="optimizer figure",
    model="vggnet",
    cells={
        (opt, sched): {"val": acc}
        for opt, (constant, plateau) in _OPTIMIZER_VAL.items()
        for sched, acc in (("constant", constant), ("plateau", plateau))
    },
)

# Scheduler figure: SGD + Nesterov; (val, test). ReduceLROnPlateau's 73.06 test is printed in the text.
_SCHEDULER = {
    "one_cycle": (72.36, 71.08),
    "step": (73.09, 71.97),
    "constant": (73.26, 71.27),
    "cosine": (73.34, 71.94),
    "cosine_restarts": (73.37, 72.36),
    "plateau": (73.59, 73.06),
}

SCHEDULER_FIGURE = PaperFigure(
    name="scheduler figure",
    model="vggnet",
    cells={("sgd_nesterov", sched): {"val": val, "test": test} for sched, (val, test) in _SCHEDULER.items()},
)

FIGURES: tuple[PaperFigure, ...] = (SCHEDULER_FIGURE, OPTIMIZER_FIGURE)


def paper_accuracy(model: str, optimizer: str, scheduler: str, split: str) -> tuple[float, str] | None:
    """The paper's accuracy for a setting and split, with the figure it comes from; None if the paper
    has no such bar. Where both figures have the setting (SGD + Nesterov, constant or plateau), the
    scheduler figure is used: it is the one that also gives the test split."""
    for figure in FIGURES:
        value = figure.cells.get((optimizer, scheduler), {}).get(split)
        if figure.model == model and value is not None:
            return value, figure.name
    return None
