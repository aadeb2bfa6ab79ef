"""Evaluation: rollouts scored against their references and the trivial baselines.

:func:`evaluate` rolls a model out over every trajectory of a dataset split from its first
frames and reports, per run and averaged, the per-step field errors, what a CFD engineer
judges a surrogate by (rel-L2 at steps 1, 10, 50 and over the horizon, the velocity RMSE, the
Strouhal number and amplitude of the wake) beside the persistence and time-mean baselines,
the physics scores, and the same after the refiner where the model has one. It sits above
training and the refiner; ``meshfield evaluate`` is its command.
"""

from __future__ import annotations

from meshfield.evaluate.report import (
    REPORT_FORMAT,
    aligned_columns,
    evaluate,
    format_rollout_table,
    format_table,
    write_report,
)

__all__ = [
    "REPORT_FORMAT",
    "aligned_columns",
    "evaluate",
    "format_rollout_table",
    "format_table",
    "write_report",
]


def __getattr__(name: str) -> object:
    # the command line moved to meshfield.cli.evaluate
    if name == "run_evaluate":
        import meshfield.cli.evaluate as moved
        from meshfield._moved import moved_name

        return moved_name(__name__, "run", moved)
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
