"""Drive OpenFOAM from Python: environment, tools, dictionaries and 2D results.

The OpenFOAM cases of :mod:`meshfield.cases` (``cylinder_wake``, ``lid_driven_cavity``,
``airfoil``) share this driver. It needs the OpenFOAM executables on ``PATH`` (Debian and Ubuntu:
``apt-get install -y openfoam``; the ``airfoil`` case also needs ``openfoam-examples`` for the
tutorial mesh) and ``WM_PROJECT_DIR`` pointing at the installation (``/usr/share/openfoam`` for
the Debian package, set automatically when it exists). Sourcing OpenFOAM's ``bashrc`` is not
needed.

What it does:

* :func:`check_openfoam` finds the tools and says how to install them when they are missing.
* :func:`run_tool` runs one tool in a case folder, writes its output to ``log.<tool>`` there and
  raises :class:`OpenFOAMError` with the end of the log when the tool fails.
* :func:`write_foam_dict` and :func:`write_field` write dictionaries with foamlib (``FoamFile`` header and
  entries) from Python values; :func:`set_entry` edits one entry of an existing dictionary with
  ``foamDictionary``.
* :func:`read_planar` reads a one-cell-thick (2D) case with VTK's OpenFOAM reader and returns a
  2D triangle :class:`~meshfield.data.MeshGraph`: the nodes of the back face in a fixed order
  (ascending OpenFOAM point index, so every time step and every run on the same mesh share it),
  the reader's point values, and one boundary group per non-empty patch.
* :func:`read_function_object` reads the ``.dat`` tables that function objects such as
  ``forceCoeffs`` write under ``postProcessing``.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from meshfield.errors import MeshfieldError, MeshFormatError, MissingDependencyError
from meshfield.io.openfoam import read_planar

__all__ = [
    "DEFAULT_PROJECT_DIR",
    "OpenFOAMError",
    "OpenFOAMNotFoundError",
    "Uniform",
    "check_openfoam",
    "format_value",
    "merge_settings",
    "openfoam_available",
    "openfoam_environment",
    "read_function_object",
    "read_planar",
    "run_tool",
    "set_entry",
    "time_folders",
    "tutorial_dir",
    "write_field",
    "write_foam_dict",
]

#: Where Debian's ``openfoam`` package installs OpenFOAM's ``etc`` folder.
DEFAULT_PROJECT_DIR = "/usr/share/openfoam"

#: Folders that hold the OpenFOAM tutorials, searched in this order after ``$FOAM_TUTORIALS``.
TUTORIAL_DIRS = (
    "/usr/share/openfoam/tutorials",
    "/usr/share/doc/openfoam-examples/examples",
)

_INSTALL_HINT = (
    "Install OpenFOAM with `apt-get install -y openfoam` on Debian or Ubuntu (v1912 is "
    "known to work) and set WM_PROJECT_DIR=/usr/share/openfoam (done automatically when that "
    "folder exists), or source the etc/bashrc of another OpenFOAM installation so that its "
    "solvers are on PATH."
)

_LOG_TAIL_LINES = 30


class OpenFOAMNotFoundError(MissingDependencyError):
    """The OpenFOAM executables (or its installation folder) cannot be found."""


class OpenFOAMError(MeshfieldError, RuntimeError):
    """An OpenFOAM tool failed; the message ends with the last lines of its log."""


# ---------------------------------------------------------------------------------------------
# environment and tools
# ---------------------------------------------------------------------------------------------


def openfoam_environment() -> dict[str, str]:
    """The process environment for OpenFOAM tools.

    A copy of :data:`os.environ` with ``WM_PROJECT_DIR`` set to :data:`DEFAULT_PROJECT_DIR`
    when it is unset and that folder exists; the tools read their global ``controlDict`` from
    there.

    Returns
    -------
    dict
        The environment to pass to :func:`subprocess.run`.
    """
    env = dict(os.environ)
    if not env.get("WM_PROJECT_DIR") and Path(DEFAULT_PROJECT_DIR, "etc").is_dir():
        env["WM_PROJECT_DIR"] = DEFAULT_PROJECT_DIR
    return env


def openfoam_available(tools: Iterable[str] = ("foamDictionary",)) -> bool:
    """Whether :func:`check_openfoam` passes for ``tools`` (used to skip tests).

    Parameters
    ----------
    tools : iterable of str, default: ("foamDictionary",)
        Executables that must be on ``PATH``.

    Returns
    -------
    bool
        ``True`` when OpenFOAM and every tool are found.
    """
    try:
        check_openfoam(tools)
    except OpenFOAMNotFoundError:
        return False
    return True


def check_openfoam(tools: Iterable[str] = ("foamDictionary",), *, case: str = "") -> None:
    """Check that OpenFOAM and the given tools can run.

    Parameters
    ----------
    tools : iterable of str, default: ("foamDictionary",)
        Executables that must be on ``PATH``, e.g. ``("gmshToFoam", "pimpleFoam")``.
    case : str, default: ""
        Name of the case that needs them, used in the message.

    Raises
    ------
    OpenFOAMNotFoundError
        A tool is not on ``PATH`` or ``WM_PROJECT_DIR`` is unset and the default installation
        folder does not exist; the message says how to install OpenFOAM.
    """
    env = openfoam_environment()
    needed = f" for the {case} case" if case else ""
    missing = [tool for tool in tools if shutil.which(tool, path=env.get("PATH")) is None]
    if missing:
        msg = f"OpenFOAM is needed{needed} but {', '.join(missing)} is not on PATH. {_INSTALL_HINT}"
        raise OpenFOAMNotFoundError(msg)
    project = env.get("WM_PROJECT_DIR")
    if not project or not Path(project, "etc", "controlDict").is_file():
        msg = (
            f"OpenFOAM is needed{needed}: its tools are on PATH but WM_PROJECT_DIR "
            f"({project or 'unset'}) is not an OpenFOAM installation (no etc/controlDict). "
            f"{_INSTALL_HINT}"
        )
        raise OpenFOAMNotFoundError(msg)


def merge_settings(
    given: Mapping[str, Any], defaults: Mapping[str, Any], key: str, case: str
) -> dict[str, Any]:
    """Defaults updated by a spec's free-form settings, refusing unknown names.

    Parameters
    ----------
    given : mapping
        Settings from the spec (``spec.mesh.params`` or ``spec.solver.settings``).
    defaults : mapping
        Every known setting and its default.
    key : str
        The spec key, for the message (``"mesh.params"``).
    case : str
        The case name, for the message.

    Returns
    -------
    dict
        ``{**defaults, **given}``.

    Raises
    ------
    SpecError
        A name that is not in ``defaults``.
    """
    from meshfield.errors import SpecError

    unknown = sorted(set(given) - set(defaults))
    if unknown:
        msg = f"{key}: unknown keys {unknown} for the {case} case (known: {sorted(defaults)})"
        raise SpecError(msg)
    for name, value in given.items():
        _check_setting(value, defaults[name], f"{key}.{name}")
    return {**defaults, **given}


def _check_setting(value: Any, default: Any, where: str) -> None:
    """A spec setting must be a plain value of its default's kind (it is written into
    OpenFOAM dictionaries, so free text could carry dictionary entries or commands)."""
    from meshfield.errors import SpecError

    def number(v: Any) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)

    if isinstance(default, bool):
        ok, kind = isinstance(value, bool), "true or false"
    elif isinstance(default, int | float) or default is None:
        ok, kind = number(value) or (default is None and value is None), "a finite number"
    elif isinstance(default, str):
        ok = isinstance(value, str) and re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,63}", value) is not None
        kind = "one word (letters, digits, _)"
    else:
        ok, kind = False, f"of the kind of {default!r}"
    if not ok:
        text = repr(value)
        text = text if len(text) <= 60 else text[:57] + "..."
        msg = f"{where}: expected {kind} (got {text})"
        raise SpecError(msg)


def tutorial_dir(relative: str) -> Path:
    """Find an OpenFOAM tutorial folder.

    Parameters
    ----------
    relative : str
        Path below the tutorials root, e.g. ``"incompressible/simpleFoam/airFoil2D"``.

    Returns
    -------
    Path
        The tutorial folder, from ``$FOAM_TUTORIALS`` or the Debian locations in
        :data:`TUTORIAL_DIRS`.

    Raises
    ------
    OpenFOAMNotFoundError
        No tutorials root holds it; the message says how to install them.
    """
    roots = [os.environ.get("FOAM_TUTORIALS", ""), *TUTORIAL_DIRS]
    for root in filter(None, roots):
        candidate = Path(root, relative)
        if candidate.is_dir():
            return candidate
    searched = ", ".join(r for r in roots if r)
    msg = (
        f"The OpenFOAM tutorial {relative} was not found (searched {searched}). Install the "
        "tutorials with `apt-get install -y openfoam-examples` on Debian or Ubuntu, or set "
        "FOAM_TUTORIALS to the tutorials folder of your OpenFOAM installation."
    )
    raise OpenFOAMNotFoundError(msg)


def _log_tail(log: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = log.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])


def run_tool(
    tool: str,
    case: str | os.PathLike[str],
    *args: str,
    log: str | None = None,
    timeout: float | None = None,
) -> Path:
    """Run an OpenFOAM tool in a case folder.

    Parameters
    ----------
    tool : str
        Executable name, e.g. ``"blockMesh"`` or ``"pimpleFoam"``.
    case : path-like
        The case folder; the tool runs with it as working directory and ``-case``.
    *args : str
        Further command-line arguments.
    log : str, optional
        Log file name in the case folder. default: ``"log.<tool>"``.
    timeout : float, optional
        Seconds after which the tool is killed. default: no limit.

    Returns
    -------
    Path
        The log file (standard output and error of the tool).

    Raises
    ------
    OpenFOAMNotFoundError
        The tool is not installed.
    OpenFOAMError
        The tool exited with an error, printed ``FOAM FATAL``, or ran past ``timeout``.

    Example
    -------
    >>> run_tool("blockMesh", "cavity")  # doctest: +SKIP
    PosixPath('cavity/log.blockMesh')
    """
    check_openfoam([tool])
    case = Path(case)
    log_path = case / (log or f"log.{tool}")
    command = [tool, "-case", str(case.resolve()), *args]
    with log_path.open("w") as stream:
        try:
            result = subprocess.run(
                command,
                cwd=case,
                env=openfoam_environment(),
                stdout=stream,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            msg = (
                f"{tool} ran past its time limit of {timeout} s in {case}; last lines of "
                f"{log_path}:\n{_log_tail(log_path)}"
            )
            raise OpenFOAMError(msg) from exc
    if result.returncode != 0 or "FOAM FATAL" in _log_tail(log_path, 200):
        msg = (
            f"{tool} failed in {case} (exit status {result.returncode}); last lines of "
            f"{log_path}:\n{_log_tail(log_path)}"
        )
        raise OpenFOAMError(msg)
    return log_path


def set_entry(dictionary: str | os.PathLike[str], entry: str, value: Any) -> None:
    """Set one entry of an OpenFOAM dictionary with ``foamDictionary``.

    Parameters
    ----------
    dictionary : path-like
        The dictionary file, e.g. ``case/constant/polyMesh/boundary``.
    entry : str
        Entry path with ``/`` between levels, e.g. ``"boundaryField/inlet/type"``; in a
        ``polyMesh/boundary`` file the patches are under ``entry0``
        (``"entry0/cylinder/type"``).
    value : object
        New value, formatted by :func:`format_value`.

    Raises
    ------
    OpenFOAMError
        ``foamDictionary`` failed (unknown entry, unreadable file).
    """
    dictionary = Path(dictionary)
    log = f"log.foamDictionary.{entry.replace('/', '.')}"
    run_tool(
        "foamDictionary",
        dictionary.parent,
        dictionary.name,
        "-entry",
        entry,
        "-set",
        format_value(value),
        log=log,
    )
    (dictionary.parent / log).unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------
# dictionaries
# ---------------------------------------------------------------------------------------------


class Uniform:
    """A uniform field value, written ``uniform <value>``.

    Parameters
    ----------
    value : float or sequence of float
        A scalar or a vector.

    Example
    -------
    >>> format_value(Uniform((1, 0, 0)))
    'uniform (1 0 0)'
    """

    def __init__(self, value: float | Sequence[float]) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"Uniform({self.value!r})"


def _format_number(value: float) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if not math.isfinite(value):
        msg = f"cannot write the non-finite number {value} to an OpenFOAM dictionary"
        raise ValueError(msg)
    text = repr(float(value))
    return text.removesuffix(".0")


def format_value(value: Any) -> str:
    """Write a Python value as an OpenFOAM dictionary value.

    ``bool`` -> ``true``/``false``; numbers -> shortest exact form; ``str`` -> verbatim (so
    ``"[0 1 -1 0 0 0 0]"`` or ``"table ((0 1) (2 0))"`` pass through); tuples, lists and arrays
    -> ``(a b c)``, nested as needed; :class:`Uniform` -> ``uniform <value>``.

    Parameters
    ----------
    value : object
        The value.

    Returns
    -------
    str
        Its dictionary text.

    Example
    -------
    >>> format_value([(0.0, 1.5), (2, 0)])
    '((0 1.5) (2 0))'
    """
    if isinstance(value, Uniform):
        return f"uniform {format_value(value.value)}"
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float, np.bool_, np.integer, np.floating)):
        return _format_number(value)
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return "(" + " ".join(format_value(v) for v in value) + ")"
    msg = f"cannot write a {type(value).__name__} to an OpenFOAM dictionary: {value!r}"
    raise TypeError(msg)


def _foam_value(value: Any, where: str, field: bool = False) -> Any:
    """A Python value as foamlib writes it: text is parsed as exactly one dictionary value,
    so no string can end the entry and start another (``'0.8; functions {...}'`` is refused).
    In a field file (``field``) foamlib writes field values ``uniform`` itself."""
    from foamlib import FoamFile

    if isinstance(value, Uniform):
        inner = value.value
        inner = list(inner) if isinstance(inner, (list, tuple, np.ndarray)) else inner
        inner = _foam_value(inner, where)
        return inner if field else ("uniform", inner)
    if isinstance(value, Mapping):
        return {str(k): _foam_value(v, f"{where}/{k}", field) for k, v in value.items()}
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            msg = f"{where}: cannot write the non-finite number {value} to an OpenFOAM dictionary"
            raise ValueError(msg)
        return float(value)
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [_foam_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, str):
        if any(mark in value for mark in ";{}#"):  # would end the entry or run a directive
            msg = f"{where}: not one OpenFOAM value (';', braces or '#' in it): {value!r}"
            raise ValueError(msg)
        try:
            parsed = FoamFile.loads(f"entry {value};")
        except Exception as exc:  # noqa: BLE001 - foamlib's parse errors have several types
            msg = f"{where}: not an OpenFOAM value: {value!r} ({type(exc).__name__})"
            raise ValueError(msg) from None
        if list(parsed) != ["entry"]:
            msg = f"{where}: not one OpenFOAM value (it holds more entries): {value!r}"
            raise ValueError(msg)
        return parsed["entry"]
    msg = f"{where}: cannot write a {type(value).__name__} to an OpenFOAM dictionary: {value!r}"
    raise TypeError(msg)


def write_foam_dict(
    path: str | os.PathLike[str],
    entries: Mapping[str, Any],
    *,
    foam_class: str = "dictionary",
    location: str | None = None,
) -> Path:
    """Write an OpenFOAM dictionary file (with foamlib).

    Parameters
    ----------
    path : path-like
        The file; its name becomes the header's ``object`` and its parent folder is created.
    entries : mapping
        Entry name -> value; mappings become sub-dictionaries, ``None`` a bare keyword,
        :class:`Uniform` ``uniform <value>``, numbers, booleans and (nested) sequences their
        OpenFOAM form; a string must be exactly one OpenFOAM value (``"Gauss linear"``,
        ``"[0 1 -1 0 0 0 0]"``, ``"table ((0 1) (2 0))"``). Keys are written as given: quote
        regular-expression keys yourself (``'"(U|p)Final"'``).
    foam_class : str, default: "dictionary"
        The header's ``class`` (``volScalarField``, ``volVectorField``, ...).
    location : str, optional
        The header's ``location``. default: the parent folder's name.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    ValueError
        A string that is not one OpenFOAM value (it would end the entry and start another),
        or a number that is not finite; the message names the entry.

    Example
    -------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> text = write_foam_dict(folder / "transportProperties", {"nu": 0.01}).read_text()
    >>> text.split()[-2:]
    ['nu', '0.01;']
    """
    from foamlib import FoamFile

    path = Path(path)
    header = {
        "version": 2.0,
        "format": "ascii",
        "class": foam_class,
        "location": f'"{location if location is not None else path.parent.name}"',
        "object": path.name,
    }
    field = foam_class.startswith(("vol", "surface", "point"))
    content = {str(k): _foam_value(v, f"{path.name}: {k}", field) for k, v in entries.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    foam_file = FoamFile(path)
    with foam_file:  # one write of the whole file when the block ends
        foam_file["FoamFile"] = header
        for key, value in content.items():
            foam_file[key] = value
    return path


def write_field(
    case: str | os.PathLike[str],
    name: str,
    dimensions: str,
    internal: float | Sequence[float],
    boundary: Mapping[str, Mapping[str, Any]],
    *,
    time: str = "0",
) -> Path:
    """Write the initial/boundary conditions of one field, ``<case>/<time>/<name>``.

    Parameters
    ----------
    case : path-like
        The case folder.
    name : str
        Field name, e.g. ``"U"``.
    dimensions : str
        SI dimensions, e.g. ``"[0 1 -1 0 0 0 0]"``.
    internal : float or sequence of float
        Uniform internal value; a sequence makes a ``volVectorField``.
    boundary : mapping
        Patch name -> patch entries (``{"type": "fixedValue", "value": Uniform(...)}``).
    time : str, default: "0"
        The time folder.

    Returns
    -------
    Path
        The written file.
    """
    vector = not isinstance(internal, (int, float, np.integer, np.floating))
    return write_foam_dict(
        Path(case, time, name),
        {
            "dimensions": dimensions,
            "internalField": Uniform(internal),
            "boundaryField": dict(boundary),
        },
        foam_class="volVectorField" if vector else "volScalarField",
    )


# ---------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------


def read_function_object(
    case: str | os.PathLike[str], name: str, file: str | None = None
) -> dict[str, np.ndarray]:
    """Read the table a function object wrote under ``postProcessing/<name>``.

    The tables of every start-time folder (one per restart) are joined in time order; rows of a
    later folder replace those of an earlier one from its start time on.

    Parameters
    ----------
    case : path-like
        The case folder.
    name : str
        The function object's name, e.g. ``"forceCoeffs"``.
    file : str, optional
        The ``.dat`` file in each time folder. default: the only ``.dat`` file there, or
        ``coefficient.dat`` when there are several.

    Returns
    -------
    dict of str to numpy.ndarray
        Column name (from the last ``#`` header line, e.g. ``"Time"``, ``"Cd"``, ``"Cl"``) ->
        values.

    Raises
    ------
    MeshFormatError
        No table was found or a table has no header.
    """
    root = Path(case, "postProcessing", name)
    starts = sorted(
        (p for p in root.glob("*") if p.is_dir() and _is_number(p.name)),
        key=lambda p: float(p.name),
    )
    columns: list[str] | None = None
    blocks: list[np.ndarray] = []
    for start in starts:
        tables = sorted(start.glob("*.dat"))
        if file is not None:
            tables = [start / file] if (start / file).is_file() else []
        elif len(tables) > 1:
            tables = [t for t in tables if t.name == "coefficient.dat"] or tables[:1]
        if not tables:
            continue
        header, rows = _read_table(tables[0])
        if columns is None:
            columns = header
        if rows.size:
            if blocks:
                blocks = [b[b[:, 0] < rows[0, 0]] for b in blocks]
            blocks.append(rows)
    if columns is None:
        msg = f"no table of function object {name!r} found under {root}"
        raise MeshFormatError(msg)
    data = np.concatenate(blocks) if blocks else np.zeros((0, len(columns)))
    return {column: data[:, i] for i, column in enumerate(columns)}


def time_folders(case: str | os.PathLike[str]) -> list[float]:
    """The times of a case's time folders (``0``, ``0.2``, ...), ascending.

    Parameters
    ----------
    case : path-like
        The case folder.

    Returns
    -------
    list of float
        One time per folder whose name is a number.
    """
    return sorted(float(p.name) for p in Path(case).iterdir() if p.is_dir() and _is_number(p.name))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_table(path: Path) -> tuple[list[str], np.ndarray]:
    header: list[str] | None = None
    rows = []
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            words = line[1:].split()
            if words:
                header = words
        elif line.strip():
            rows.append([float(w) for w in line.replace("(", " ").replace(")", " ").split()])
    if header is None:
        msg = f"{path}: no '#' header line naming the columns"
        raise MeshFormatError(msg)
    width = len(header)
    table = np.array([r[:width] for r in rows if len(r) >= width], dtype=np.float64)
    return header, table.reshape(-1, width)


def extrude_one_layer(
    surfaces: Sequence[int],
    classify: Callable[[float, float], str],
    *,
    thickness: float = 0.1,
) -> None:
    """Extrude 2D gmsh surfaces into one layer of prisms/hexahedra with named patches.

    Call inside an initialized gmsh session whose OpenCASCADE model holds the meshed-to-be
    surfaces at z = 0. The surfaces are extruded by ``thickness`` in z with one recombined layer
    (triangles -> prisms, quadrangles -> hexahedra); the back and front faces form the physical
    group ``frontAndBack``, the volume ``fluid``, and every side face the group that
    ``classify(x, y)`` names for its centre of mass.

    Parameters
    ----------
    surfaces : sequence of int
        Tags of the 2D surfaces.
    classify : callable
        ``(x, y) -> patch name`` for a side face with centre of mass ``(x, y)``.
    thickness : float, default: 0.1
        Extrusion length in z.
    """
    import gmsh

    occ = gmsh.model.occ
    out = occ.extrude(
        [(2, s) for s in surfaces], 0.0, 0.0, thickness, numElements=[1], recombine=True
    )
    occ.synchronize()
    volumes = [tag for dim, tag in out if dim == 3]
    groups: dict[str, list[int]] = {}
    for _, tag in gmsh.model.getBoundary([(3, v) for v in volumes], oriented=False):
        x, y, z = occ.getCenterOfMass(2, tag)
        on_face = min(abs(z), abs(z - thickness)) < 1e-9 * max(1.0, thickness)
        name = "frontAndBack" if on_face else classify(x, y)
        groups.setdefault(name, []).append(tag)
    for name, tags in groups.items():
        gmsh.model.setPhysicalName(2, gmsh.model.addPhysicalGroup(2, tags), name)
    gmsh.model.setPhysicalName(3, gmsh.model.addPhysicalGroup(3, volumes), "fluid")


def write_msh22(path: str | os.PathLike[str]) -> Path:
    """Write the current gmsh model as ASCII MSH 2.2 (physical groups only) for ``gmshToFoam``.

    Parameters
    ----------
    path : path-like
        The ``.msh`` file.

    Returns
    -------
    Path
        The written file.
    """
    import gmsh

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    gmsh.option.setNumber("Mesh.MshFileVersion", 2.2)
    gmsh.option.setNumber("Mesh.Binary", 0)
    gmsh.option.setNumber("Mesh.SaveAll", 0)
    gmsh.write(str(path))
    return path


def gmsh_to_foam(
    msh: str | os.PathLike[str],
    case: str | os.PathLike[str],
    patch_types: Mapping[str, str],
) -> Path:
    """Convert an MSH 2.2 file into ``case/constant/polyMesh`` and set the patch types.

    Parameters
    ----------
    msh : path-like
        The mesh (physical surface groups become patches).
    case : path-like
        The case folder; needs ``system/controlDict`` already.
    patch_types : mapping
        Patch name -> type (``"wall"``, ``"empty"``, ``"symmetry"``, ...); the patches not
        named stay ``patch``.

    Returns
    -------
    Path
        The ``constant/polyMesh/boundary`` file.
    """
    case = Path(case)
    run_tool("gmshToFoam", case, str(Path(msh).resolve()))
    boundary = case / "constant" / "polyMesh" / "boundary"
    for patch, kind in patch_types.items():
        set_entry(boundary, f"entry0/{patch}/type", kind)
        set_entry(boundary, f"entry0/{patch}/physicalType", kind)
    return boundary
