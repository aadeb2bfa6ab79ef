"""Benchmarks behind ``meshfield bench NAME`` (or ``python -m meshfield.bench NAME``).

Each benchmark is a module here with a ``main(argv)`` function that prints its figures, and the
ratios against the reference it is compared to, all measured in one run. Benchmarks are never
tests: they print numbers, they do not pass or fail.
"""

from __future__ import annotations

__all__ = ["BENCHMARKS"]

#: name -> module under meshfield.bench
BENCHMARKS: dict[str, str] = {
    "io": "meshfield.bench.io",
    "serialize": "meshfield.bench.serialize",
    "backbone": "meshfield.bench.backbone",
    "model": "meshfield.bench.model",
    "accuracy": "meshfield.bench.accuracy",
    "train": "meshfield.bench.train",
    "rollout": "meshfield.bench.rollout",
}
