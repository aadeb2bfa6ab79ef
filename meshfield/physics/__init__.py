r"""Physics: PDE residuals by autograd at query points and by discrete operators on the mesh.

A :class:`PDE` declares the fields it reads, its residual components and its conditions, and
writes its equations once against a derivatives provider; the same PDE then gives

* residuals at arbitrary query points of any differentiable field ``f(coords)`` (a model's
  point-query decoder), by autograd, trainable (:meth:`PDE.residual`);
* residuals at the nodes of a mesh over frames, from node values alone (a CFD reference, a
  model's node output), by least-squares / finite-element operators in space and finite
  differences in time (:meth:`PDE.mesh_residual`).

Residuals are in physical units. Coordinates are laid out ``(x, y[, z][, t])``.

=========================  =====================================  ============================
PDE                        residual                               conditions
=========================  =====================================  ============================
:class:`NavierStokes`      continuity, momentum (2D/3D)           ``Re`` or ``nu``, ``rho``
:class:`Heat`              :math:`u_t - \alpha\Delta u`           ``alpha``
:class:`Burgers`           :math:`u_t + (u\cdot\nabla)u - \nu\Delta u`  ``nu``
:class:`AdvectionDiffusion`  :math:`c_t + a\cdot\nabla c - \kappa\Delta c`  ``kappa``
:class:`Wave`              :math:`u_{tt} - c^2\Delta u`           ``c``
:class:`Poisson`           :math:`-\Delta u - f`                  none
=========================  =====================================  ============================

A PDE of your own is a few lines (a full example is in :mod:`meshfield.physics.pde`):

>>> import torch
>>> from dataclasses import dataclass
>>> from meshfield.physics import PDE
>>> @dataclass
... class ReactionDiffusion(PDE):
...     D: float = 0.01
...     k: float = 1.0
...     fields = ("c",)
...     components = ("reaction_diffusion",)
...     conditions = ("D", "k")
...     def equations(self, d, cond):
...         c = d.u("c")
...         return {"reaction_diffusion": (d.dt("c"), -cond["D"] * d.laplacian("c"), cond["k"] * c)}
>>> xyt = torch.rand(8, 3, dtype=torch.float64)
>>> decay = lambda q: torch.exp(-q[..., 2:])  # c = exp(-k t) solves it with k = 1
>>> ReactionDiffusion().residual(decay, xyt).abs().max() < 1e-12
tensor(True)

References
----------
M. Raissi, P. Perdikaris and G. E. Karniadakis, "Physics-informed neural networks", J. Comput.
Phys. 378 (2019) 686-707.
"""

from __future__ import annotations

from typing import Any

from meshfield.physics.advection_diffusion import AdvectionDiffusion
from meshfield.physics.autograd import divergence, gradient, hessian, laplacian, map_chunks
from meshfield.physics.burgers import Burgers
from meshfield.physics.heat import Heat
from meshfield.physics.mesh_ops import MeshOperators
from meshfield.physics.navier_stokes import NavierStokes
from meshfield.physics.pde import PDE, AutogradDerivatives, Derivatives, MeshDerivatives
from meshfield.physics.poisson import Poisson
from meshfield.physics.registry import PDE_CLASSES, make_pde, pde_from_dict, pde_to_dict
from meshfield.physics.sampling import MeshSampler, PointSample
from meshfield.physics.spec import pde_from_spec
from meshfield.physics.time import time_derivative
from meshfield.physics.wave import Wave

__all__ = [
    "PDE",
    "PDE_CLASSES",
    "AdvectionDiffusion",
    "AutogradDerivatives",
    "Burgers",
    "Derivatives",
    "Heat",
    "MeshDerivatives",
    "MeshOperators",
    "MeshSampler",
    "NavierStokes",
    "PointSample",
    "Poisson",
    "Wave",
    "divergence",
    "gradient",
    "hessian",
    "laplacian",
    "make_pde",
    "map_chunks",
    "pde_from_dict",
    "pde_from_spec",
    "pde_to_dict",
    "time_derivative",
]

#: names that moved to :mod:`meshfield.refine` (the refiner and fine-tuning sit above training)
_MOVED_TO_REFINE = (
    "BoundaryValue",
    "FinetuneConfig",
    "PhysicsRefiner",
    "RefinerConfig",
    "apply_refiner",
    "finetune",
    "finetune_test_time",
    "load_refiner",
    "save_refined_checkpoint",
)


def __getattr__(name: str) -> Any:
    if name in _MOVED_TO_REFINE:
        import meshfield.refine  # a deprecated alias: the one import of a higher layer here
        from meshfield._moved import moved_name

        return moved_name(__name__, name, meshfield.refine)
    msg = f"module 'meshfield.physics' has no attribute {name!r}"
    raise AttributeError(msg)
