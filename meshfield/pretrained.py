"""Pretrained models shipped with meshfield, by name.

A pretrained model is an ordinary checkpoint directory (``model.safetensors`` and
``config.json``, see :mod:`meshfield.checkpoint`) inside the package, under
``meshfield/assets/pretrained/<name>/``, together with the mesh it runs on by default: a mesh
file stored beside the weights (``mesh.msh``, ``mesh.vtu``, ...) or, failing that, the mesh the
registry names (for ``cylinder_wake`` the bundled ``meshfield/assets/cylinder.msh``).

>>> from meshfield.pretrained import list_pretrained
>>> "cylinder_wake" in list_pretrained()
True

Names are resolved by :func:`meshfield.generate` (``model="cylinder_wake"``) and by the
``meshfield generate`` and ``meshfield info`` commands.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path

from meshfield.checkpoint import CONFIG_FILE, WEIGHTS_FILE
from meshfield.errors import MeshfieldError

__all__ = [
    "CYLINDER_WAKE_FAST_RECIPE",
    "CYLINDER_WAKE_RECIPE",
    "PRETRAINED",
    "PRETRAINED_ROOT",
    "PretrainedModel",
    "list_pretrained",
    "pretrained_mesh",
    "pretrained_path",
    "resolve_checkpoint",
]

#: Folder that holds one checkpoint directory per pretrained model.
PRETRAINED_ROOT: Path = Path(__file__).parent / "assets" / "pretrained"

#: Stem of a mesh file stored beside a pretrained model's weights.
MESH_STEM = "mesh"


@dataclass(frozen=True)
class PretrainedModel:
    """A registered pretrained model.

    Parameters
    ----------
    name : str
        The name users pass as ``model=``.
    description : str
        One line on what the model predicts and from which data.
    mesh : str, optional
        Default mesh, relative to ``meshfield/assets/``, used when no mesh file is stored beside
        the weights. default: none.
    train_command : str, optional
        The command that trains it, so that anyone can reproduce it. default: none.
    """

    name: str
    description: str
    mesh: str | None = None
    train_command: str | None = None

    @property
    def folder(self) -> Path:
        """The checkpoint directory ``PRETRAINED_ROOT / name``."""
        return PRETRAINED_ROOT / self.name


#: How the shipped ``cylinder_wake`` model was made, from a clean clone (seed 0 throughout;
#: the training settings, model included, are in ``configs/cylinder_wake_hybrid.json``).
CYLINDER_WAKE_RECIPE = """\
meshfield datagen data_specs/cylinder_wake.yaml --out data/cylinder_wake --jobs 2
meshfield datagen data_specs/cylinder_wake_065.yaml --out data/cylinder_wake_065 --split train --jobs 2
meshfield datagen data_specs/cylinder_wake_085.yaml --out data/cylinder_wake_085 --split train --jobs 2
meshfield train data/cylinder_wake --config configs/cylinder_wake_hybrid.json --out runs/hybrid
meshfield train data/cylinder_wake --config configs/cylinder_wake_hybrid_decay.json --out runs/hybrid_decay
meshfield finetune runs/hybrid_decay data/cylinder_wake --pde navier_stokes --steps 0 --calibration-steps 0 --projection 3 --out runs/hybrid_pf
meshfield evaluate runs/hybrid_pf data/cylinder_wake --split test --generate --out runs/hybrid_pf/test_metrics.json
cp runs/hybrid_pf/* meshfield/assets/pretrained/cylinder_wake/
meshfield convert "data/cylinder_wake/test/Re=150.safetensors" meshfield/assets/pretrained/cylinder_wake/mesh.vtu --mesh-only
"""

#: How the shipped ``cylinder_wake_fast`` model was made: the data of ``cylinder_wake`` (the
#: first three commands of :data:`CYLINDER_WAKE_RECIPE`), then ``cylinder_wake``'s weights
#: trained on to a step of three snapshots (``configs/cylinder_wake_hybrid_step3.json``).
CYLINDER_WAKE_FAST_RECIPE = """\
meshfield datagen data_specs/cylinder_wake.yaml --out data/cylinder_wake --jobs 2
meshfield datagen data_specs/cylinder_wake_065.yaml --out data/cylinder_wake_065 --split train --jobs 2
meshfield datagen data_specs/cylinder_wake_085.yaml --out data/cylinder_wake_085 --split train --jobs 2
meshfield train data/cylinder_wake --config configs/cylinder_wake_hybrid_step3.json --out runs/step3
meshfield finetune runs/step3 data/cylinder_wake --pde navier_stokes --steps 0 --calibration-steps 0 --projection 3 --out runs/step3_pf
meshfield evaluate runs/step3_pf data/cylinder_wake --split test --generate --out runs/step3_pf/test_metrics.json
cp runs/step3_pf/* meshfield/assets/pretrained/cylinder_wake_fast/
"""

#: The registered pretrained models, by name.
PRETRAINED: dict[str, PretrainedModel] = {
    "cylinder_wake": PretrainedModel(
        name="cylinder_wake",
        description=(
            "HMT (five linear-attention blocks and one bidirectional Mamba block along a Z-order "
            "curve) for 2D laminar flow past a cylinder (U_x, U_y, p) at Reynolds numbers 60-200, "
            "trained on the OpenFOAM runs of data_specs/cylinder_wake.yaml and of the same case "
            "on 0.85x and 0.65x meshes (data_specs/cylinder_wake_085.yaml, "
            "cylinder_wake_065.yaml), with a Navier-Stokes refiner (a residual projection)"
        ),
        mesh="cylinder.msh",
        train_command=CYLINDER_WAKE_RECIPE,
    ),
    "cylinder_wake_fast": PretrainedModel(
        name="cylinder_wake_fast",
        description=(
            "cylinder_wake's model trained on to step 0.6 time units at a time (three "
            "snapshots of its data, frame_step 3): the same flows in a third of the steps, "
            "with the same kind of Navier-Stokes refiner"
        ),
        mesh="pretrained/cylinder_wake/mesh.vtu",  # the mesh of cylinder_wake, not copied
        train_command=CYLINDER_WAKE_FAST_RECIPE,
    ),
}


def _discovered() -> list[str]:
    if not PRETRAINED_ROOT.is_dir():
        return []
    return sorted(
        entry.name
        for entry in PRETRAINED_ROOT.iterdir()
        if entry.is_dir() and (entry / CONFIG_FILE).is_file()
    )


def list_pretrained() -> list[str]:
    """Names of the pretrained models: the registered ones and any checkpoint folder found.

    Returns
    -------
    list of str
        Sorted names; pass one as ``model=`` to :func:`meshfield.generate`.

    Example
    -------
    >>> "cylinder_wake" in list_pretrained()
    True
    """
    return sorted(set(PRETRAINED) | set(_discovered()))


def _check_name(name: str) -> None:
    names = list_pretrained()
    if name in names:
        return
    close = difflib.get_close_matches(str(name), names, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    msg = (
        f"No pretrained model named {name!r}; available: {', '.join(names) or 'none'}.{hint} "
        "A checkpoint directory (config.json and model.safetensors) can be passed by path."
    )
    raise ValueError(msg)


def pretrained_path(name: str) -> Path:
    """The checkpoint directory of a pretrained model.

    Parameters
    ----------
    name : str
        A name from :func:`list_pretrained`.

    Returns
    -------
    pathlib.Path
        ``meshfield/assets/pretrained/<name>/``, holding ``config.json`` and
        ``model.safetensors``; load it with :func:`meshfield.load_model`.

    Raises
    ------
    ValueError
        If no pretrained model has that name (the message lists the available ones).
    FileNotFoundError
        If the name is registered but its weights are not installed.

    Example
    -------
    >>> pretrained_path("cylinder_wake").name  # doctest: +SKIP
    'cylinder_wake'
    """
    _check_name(name)
    folder = PRETRAINED_ROOT / name
    missing = [f for f in (CONFIG_FILE, WEIGHTS_FILE) if not (folder / f).is_file()]
    if missing:
        entry = PRETRAINED.get(name)
        how = (
            f" Make it with\n{entry.train_command.rstrip()}\nor pass a checkpoint by path."
            if entry is not None and entry.train_command
            else ""
        )
        msg = (
            f"The pretrained model {name!r} is registered but not installed: {folder} lacks "
            f"{', '.join(missing)}.{how}"
        )
        raise FileNotFoundError(msg)
    return folder


def pretrained_mesh(name: str) -> Path | None:
    """The default mesh of a pretrained model.

    A mesh file named ``mesh.*`` beside the weights wins over the mesh the registry names.

    Parameters
    ----------
    name : str
        A name from :func:`list_pretrained`.

    Returns
    -------
    pathlib.Path or None
        The mesh file, or ``None`` if the model has no default mesh.

    Raises
    ------
    ValueError
        If no pretrained model has that name.

    Example
    -------
    >>> pretrained_mesh("cylinder_wake").name
    'mesh.vtu'
    """
    _check_name(name)
    folder = PRETRAINED_ROOT / name
    if folder.is_dir():
        beside = sorted(p for p in folder.glob(f"{MESH_STEM}.*") if p.is_file())
        if beside:
            return beside[0]
    entry = PRETRAINED.get(name)
    if entry is not None and entry.mesh:
        path = Path(__file__).parent / "assets" / entry.mesh
        if path.is_file():
            return path
    return None


class CheckpointNotFoundError(MeshfieldError, FileNotFoundError, ValueError):
    """Neither a checkpoint, nor a run folder holding one, nor a pretrained model's name."""


def _checkpoint_in(path: Path) -> Path | None:
    for candidate in (path, path / "best", path / "last"):
        if (candidate / CONFIG_FILE).is_file():
            return candidate
    return None


def resolve_checkpoint(source: str | os.PathLike[str]) -> Path:
    """The checkpoint folder a model source means; the one resolver of every command.

    A checkpoint folder is itself; a run folder of ``meshfield train`` means its ``best/``
    (else ``last/``); a name from :func:`list_pretrained` its installed folder. A path that
    holds a checkpoint wins over a pretrained name of the same spelling.

    Parameters
    ----------
    source : str or path-like
        A checkpoint or run folder, or a pretrained name.

    Returns
    -------
    pathlib.Path
        A folder with ``config.json`` and ``model.safetensors``.

    Raises
    ------
    CheckpointNotFoundError
        Neither (a :class:`FileNotFoundError` and a :class:`ValueError`; the message lists
        the pretrained names).
    FileNotFoundError
        A registered pretrained model whose weights are not installed.

    Example
    -------
    >>> resolve_checkpoint("cylinder_wake") == pretrained_path("cylinder_wake")  # doctest: +SKIP
    True
    """
    path = Path(os.fspath(source)).expanduser()
    found = _checkpoint_in(path)
    if found is not None:
        return found
    text = os.fspath(source)
    if text in list_pretrained():
        return pretrained_path(text)
    if path.exists():
        msg = f"{path} is not a meshfield checkpoint (no config.json there or in best/ or last/)"
    else:
        names = ", ".join(list_pretrained()) or "none"
        msg = (
            f"No meshfield checkpoint at {path} and no pretrained model named {text!r}; "
            f"pretrained models: {names}"
        )
    raise CheckpointNotFoundError(msg)


def pretrained_name_of(checkpoint: str | os.PathLike[str]) -> str | None:
    """The pretrained name of an installed pretrained checkpoint folder, else ``None``."""
    folder = Path(checkpoint).resolve()
    if folder.parent == PRETRAINED_ROOT.resolve() and folder.name in list_pretrained():
        return folder.name
    return None
