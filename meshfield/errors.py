"""Exceptions raised by meshfield.

Every error meshfield raises for bad input subclasses one of the built-in exceptions a caller
would already catch (``ValueError``, ``FileNotFoundError``, ``ImportError``), and names the input
and what was wrong with it.
"""

from __future__ import annotations

__all__ = [
    "MeshfieldError",
    "MeshFileNotFoundError",
    "MeshFormatError",
    "MeshValidationError",
    "MissingDependencyError",
    "SpecError",
    "NonFiniteError",
]


class MeshfieldError(Exception):
    """Base class of all errors raised by meshfield."""


class MeshFileNotFoundError(MeshfieldError, FileNotFoundError):
    """A mesh file or case directory that does not exist."""


class MeshFormatError(MeshfieldError, ValueError):
    """A file meshfield cannot read: unknown extension, corrupt or unreadable content."""


class MeshValidationError(MeshfieldError, ValueError):
    """A mesh or graph whose content is wrong: shapes, indices, non-finite values, ..."""


class MissingDependencyError(MeshfieldError, ImportError):
    """An optional library is needed for this call; the message gives the install command."""


class SpecError(MeshfieldError, ValueError):
    """A data spec (``data_specs/*.yaml``) with an unknown key, a wrong type or an impossible value.

    The message names the spec file and the key path, e.g.
    ``"cylinder_wake.yaml: time.interval: expected a positive number (got -0.2)"``.
    """


class NonFiniteError(MeshfieldError, FloatingPointError):
    """A computation produced NaN or infinite values (the work stopped there)."""
