"""Command-line options generated from the fields of a configuration dataclass.

A field ``batch_size`` becomes ``--batch-size``, typed after the field's annotation and
described by the first sentence of its entry in the class's numpydoc ``Parameters`` (with the
choices and the default that entry names). ``meshfield train`` (:class:`TrainConfig`) and
``meshfield finetune`` (:class:`FinetuneConfig`) build their options this way, so a new field
is a new option with its help, and the two cannot drift apart.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import dataclasses

__all__ = ["add_config_options", "config_options", "parameter_docs"]


def config_options(
    config: type,
    *,
    skip: frozenset[str] = frozenset(),
    overrides: Mapping[str, tuple[type, str]] | None = None,
    notes: Mapping[str, str] | None = None,
    more_choices: Mapping[str, list[str]] | None = None,
) -> list[tuple[str, type, str]]:
    """``(field, kind, help)`` of each option of a config dataclass, in field order.

    ``kind`` is ``bool`` (a flag), ``tuple`` (repeated, one ``str`` each), or the type of the
    value: ``int``, ``float`` or ``str`` (a mapping is given as JSON text). Fields in ``skip``
    get no option; ``overrides`` gives ``(kind, help)`` of fields whose option takes other
    values than the field; ``notes`` what the command line adds to a field's description;
    ``more_choices`` values a field takes besides those its docstring lists.
    """
    import dataclasses
    import typing

    docs = parameter_docs(config)
    try:
        hints = typing.get_type_hints(config)
    except Exception:  # noqa: BLE001 - an annotation that does not evaluate: go by the default
        hints = {}
    options = []
    for f in dataclasses.fields(config):
        if f.name in skip:
            continue
        kind = _kind(hints.get(f.name), f)
        if f.name in (overrides or {}):
            kind, text = (overrides or {})[f.name]
        else:
            text = _help(f.name, kind, docs.get(f.name), config.__name__, notes or {},
                         more_choices or {})
        options.append((f.name, kind, text.replace("%", "%%")))
    return options


def _kind(annotation: Any, f: dataclasses.Field) -> type:
    """``bool``, ``tuple``, ``int``, ``float`` or ``str`` for a field's option."""
    import dataclasses
    import typing
    from collections.abc import Mapping
    from types import UnionType

    if annotation is not None:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if typing.get_origin(annotation) in (typing.Union, UnionType) and len(args) == 1:
            annotation = args[0]
        origin = typing.get_origin(annotation) or annotation
        if origin is bool or origin in (int, float, str):
            return origin
        if origin in (tuple, list):
            return tuple
        if isinstance(origin, type) and issubclass(origin, Mapping):
            return str
    default = f.default if f.default is not dataclasses.MISSING else None
    if f.default_factory is not dataclasses.MISSING:
        default = f.default_factory()
    if isinstance(default, bool):
        return bool
    if isinstance(default, (tuple, list)):
        return tuple
    if isinstance(default, (int, float)):
        return type(default)
    return str


def _help(
    name: str,
    kind: type,
    entry: tuple[str, str] | None,
    owner: str,
    notes: Mapping[str, str],
    more_choices: Mapping[str, list[str]],
) -> str:
    """First sentence of the field's docstring entry, its choices, a note, its default."""
    if entry is None:
        return f"the {name} field of {owner}"
    head, text = _plain(entry[0]), _plain(entry[1])
    sentence = _first_sentence(text)
    word = sentence.split(" ", 1)[0]
    if word[1:] == word[1:].lower():  # "Token width" as "token width"; "AdamW", "HMT" kept
        sentence = sentence[:1].lower() + sentence[1:]
    choices = re.match(r"\{([^}]*)\}", head)
    if choices:
        names = [c.strip().strip("\"'") for c in choices.group(1).split(",")]
        names += more_choices.get(name, [])
        sentence = f"{', '.join(names[:-1])} or {names[-1]}: {sentence}" if len(names) > 1 else sentence
    if name in notes:
        sentence += f"; {notes[name]}"
    default = _default(head) or _default(text)
    if default and kind is not bool and default not in ("{}", "()", "None"):
        sentence += f" (default: {default})"
    return sentence


def _plain(text: str) -> str:
    """Docstring markup out: ``x`` and :role:`x` as x, :role:`~a.b.c` as c."""
    text = re.sub(r":\w+:`~[\w.]*?(\w+)`", r"\1", text)
    text = re.sub(r":\w+:`([^`]+)`", r"\1", text)
    return text.replace("``", "")


def _first_sentence(text: str) -> str:
    """Up to the first '.' or ';' outside parentheses that ends a sentence ("e.g." does not)."""
    depth = 0
    for i, char in enumerate(text):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth = max(depth - 1, 0)
        elif char in ".;" and depth == 0 and text[i + 1 : i + 2] in ("", " "):
            if char == "." and re.search(r"\b(e\.g|i\.e|etc)$", text[:i]):
                continue
            return text[:i]
    return text.rstrip(".")


def _default(text: str) -> str | None:
    """X of "default: X" up to the end of its sentence; quotes around a string dropped."""
    match = re.search(r"default: (.+)", text)
    if match is None:
        return None
    value = _first_sentence(match.group(1)).strip()
    return value[1:-1] if len(value) > 1 and value[0] == value[-1] == '"' else value


def parameter_docs(config: type) -> dict[str, tuple[str, str]]:
    """``name -> (type line, description)`` of the numpydoc Parameters of a class.

    An entry may name several fields (``log_dir, checkpoint_dir : str``); ``{}`` when the
    class has no such section (or no docstring, as under ``python -OO``).
    """

    import inspect

    def underlined(i: int) -> bool:  # a section title: the next line is all dashes
        return i + 1 < len(lines) and set(lines[i + 1].strip()) == {"-"}

    lines = (inspect.getdoc(config) or "").splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == "Parameters" and underlined(i)]
    if not starts:
        return {}
    entries: dict[str, tuple[str, str]] = {}
    names: list[str] = []
    head, text = "", []
    for i in range(starts[0] + 2, len(lines)):
        line = lines[i]
        if not line.strip():
            continue
        if line[0].isspace():
            text.append(line.strip())
            continue
        if underlined(i):
            break
        entries.update(dict.fromkeys(names, (head, " ".join(text))))
        left, _, head = line.partition(" : ")
        names, text = [each.strip() for each in left.split(",")], []
    entries.update(dict.fromkeys(names, (head, " ".join(text))))
    return entries


def add_config_options(
    group: Any,
    config: type,
    *,
    metavars: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> list[str]:
    """Add one option per field of ``config`` to ``group``; the fields that got one.

    Every option defaults to ``None``, "not given", so that the caller keeps the value of a
    file or a resumed run for it. A ``bool`` field whose default is ``True`` gets
    ``--name/--no-name``; another a flag. ``kwargs`` go to :func:`config_options`.
    """
    import dataclasses

    defaults = {f.name: f.default for f in dataclasses.fields(config)}
    names = []
    for name, kind, text in config_options(config, **kwargs):
        flag = "--" + name.replace("_", "-")
        metavar = (metavars or {}).get(name)
        if kind is bool:
            action = argparse.BooleanOptionalAction if defaults[name] is True else "store_true"
            group.add_argument(flag, action=action, default=None, help=text)
        elif kind is tuple:
            group.add_argument(flag, action="append", default=None, metavar=metavar, help=text)
        else:
            group.add_argument(flag, type=kind, default=None, metavar=metavar, help=text)
        names.append(name)
    return names
