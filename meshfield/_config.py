"""The one base of meshfield's configurations: frozen dataclasses that are plain data.

Every configuration (models, backbone, training, refiner, fine-tuning) derives from
:class:`Config` and is declared as ``@dataclass(frozen=True)``. The base gives all of them
the same three things:

- :meth:`Config.to_dict`: plain JSON values (tuples become lists, nested configurations and
  dataclasses dictionaries, mappings plain dictionaries);
- :meth:`Config.from_dict`: the strict inverse; an unknown key is an error that names the
  class and the known keys, nested configurations and tuples are rebuilt from their field
  types, and the class's own checks run as they do for a direct call;
- :meth:`Config.replace`: a checked copy with some fields changed.

A configuration's checks are declared in its ``__post_init__``, which every construction
path runs (``cls(...)``, ``from_dict``, ``replace``).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

__all__ = ["Config", "plain"]

C = TypeVar("C", bound="Config")


def plain(value: Any) -> Any:
    """``value`` as JSON data: dataclasses and mappings to dicts, tuples and lists to lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    return value


def _dataclass_in(annotation: Any) -> type | None:
    """The dataclass an annotation names (``X``, ``X | None``), else None."""
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        found = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(found) == 1:
            return _dataclass_in(found[0])
    return None


def _build(annotation: Any, value: Any) -> Any:
    """``value`` (JSON data) rebuilt as the field type ``annotation`` declares."""
    target = _dataclass_in(annotation)
    if target is not None and isinstance(value, Mapping):
        if issubclass(target, Config):
            return target.from_dict(value)
        return target(**value)
    if typing.get_origin(annotation) is tuple and isinstance(value, list | tuple):
        args = typing.get_args(annotation)
        item = args[0] if len(args) == 2 and args[1] is Ellipsis else None
        if item is not None:
            return tuple(_build(item, v) for v in value)
        return tuple(value)
    return value


class Config:
    """Base of the frozen configuration dataclasses (see the module notes)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values of every field."""
        return plain(self)

    @classmethod
    def from_dict(cls: type[C], values: Mapping[str, Any]) -> C:
        """The configuration :meth:`to_dict` wrote; unknown keys are an error."""
        if not isinstance(values, Mapping):
            msg = f"{cls.__name__} needs a mapping of its fields (got {type(values).__name__})"
            raise TypeError(msg)
        fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
        unknown = sorted(str(k) for k in values if k not in fields)
        if unknown:
            msg = f"{cls.__name__} has no fields {unknown} (known: {sorted(fields)})"
            raise ValueError(msg)
        try:
            hints = typing.get_type_hints(cls)
        except (NameError, TypeError):  # an annotation that names a type only checkers see
            hints = {}
        built = {
            name: _build(hints.get(name), value) if name in hints else value
            for name, value in values.items()
        }
        return cls(**built)

    def replace(self: C, **changes: Any) -> C:
        """A copy with ``changes``, checked like a new configuration."""
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]
