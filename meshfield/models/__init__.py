"""Models of spatiotemporal fields on meshes: HMT and the baselines it is compared with.

:class:`HMT` (hybrid Mamba-Transformer), :class:`MeshGraphNet` and a plain
:class:`Transformer` share one API (:class:`FieldModel`): ``model(data)`` predicts the next
frame as a :class:`StepOutput`, ``model.initial(data)`` the first frame from the mesh and the
conditions, ``model.rollout(data, steps)`` a trajectory and ``model.query(q, output, pos)`` the
fields at arbitrary points. Inputs and outputs are physical; each model's :class:`Normalizer`
keeps the statistics. Models are built from frozen configurations (:class:`HMTConfig`, ...) or
by name (:func:`build_model`), and saved and loaded with :func:`meshfield.save_checkpoint` and
:func:`meshfield.load_model`.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> module that defines it; resolved on first access
_LAZY: dict[str, str] = {
    "HMT": "meshfield.models.hmt",
    "MeshGraphNet": "meshfield.models.meshgraphnet",
    "GraphNetBlock": "meshfield.models.meshgraphnet",
    "Transformer": "meshfield.models.transformer",
    "FieldModel": "meshfield.models.base",
    "StepOutput": "meshfield.models.base",
    "MeshContext": "meshfield.models.base",
    "Trajectory": "meshfield.models.trajectory",
    "RolloutStep": "meshfield.models.trajectory",
    "Normalizer": "meshfield.models.normalizer",
    "EncoderConfig": "meshfield.models.config",
    "DecoderConfig": "meshfield.models.config",
    "HMTConfig": "meshfield.models.config",
    "MeshGraphNetConfig": "meshfield.models.config",
    "TransformerConfig": "meshfield.models.config",
    "config_to_dict": "meshfield.models.config",
    "config_from_dict": "meshfield.models.config",
    "build_model": "meshfield.models.registry",
    "model_class": "meshfield.models.registry",
    "MODEL_NAMES": "meshfield.models.registry",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        msg = f"module 'meshfield.models' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
