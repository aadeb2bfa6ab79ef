r"""Physics refinement: the refiner block and its fine-tuning, HMT-PF's second stage.

A pretrained field model's prediction is corrected where it breaks the governing equations
(:class:`PhysicsRefiner`, :mod:`meshfield.refine.refiner`), trained self-supervised over a
dataset (:func:`finetune`) or on one new mesh and condition (:func:`finetune_test_time`),
applied to a predicted trajectory (:func:`apply_refiner`), and kept with its model as one
module (:class:`RefinedModel`, saved as one checkpoint folder). The equations themselves are
:mod:`meshfield.physics`; this layer sits above training and below evaluation.
"""

from __future__ import annotations

from meshfield.refine.finetune import FinetuneConfig, finetune, finetune_test_time
from meshfield.refine.refiner import (
    BoundaryValue,
    PhysicsRefiner,
    RefinedModel,
    RefinerConfig,
    apply_refiner,
    load_refiner,
    save_refined_checkpoint,
)

__all__ = [
    "BoundaryValue",
    "FinetuneConfig",
    "PhysicsRefiner",
    "RefinedModel",
    "RefinerConfig",
    "apply_refiner",
    "finetune",
    "finetune_test_time",
    "load_refiner",
    "save_refined_checkpoint",
]
