"""``meshfield train``: train a model; its options are the fields of :class:`~meshfield.train.TrainConfig`.

Every field of ``TrainConfig`` but those in :data:`_NOT_OPTIONS` is an option of its name
(``batch_size``: ``--batch-size``), typed after the field and described by the first sentence
of its entry in the ``TrainConfig`` docstring. Every such option defaults to ``None``, "not
given", so that :func:`meshfield.train.config_from_args` keeps the value of the ``--config``
file (or of the resumed run) for it.
"""

from __future__ import annotations

import argparse
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import dataclasses

#: TrainConfig fields without an option of their name: ``--out`` sets ``out_dir`` and
#: ``--quiet`` ``progress``; the others are set in a ``--config`` file only
_NOT_OPTIONS = frozenset({"out_dir", "log_dir", "checkpoint_dir", "progress", "cache_runs"})

#: fields whose option takes other values than the field: (type, help) in place of the generated
_OVERRIDES: dict[str, tuple[type, str]] = {
    "state_warmup": (
        str,
        (
            "teacher-forced steps that warm the temporal state up before each window: 'all' "
            "(from the trajectory start), N, or 0 (default: all)"
        ),
    ),
}

#: what the command line adds to a field's description
_NOTES = {
    "model_options": "given as a JSON object",
    "grad_clip": "0 for none",
    "extra_data": "repeat for several",
}

#: values a field takes besides those its docstring lists
_MORE_CHOICES = {"device": ["cuda:N"]}

_METAVARS = {"extra_data": "FOLDER"}


def add_parser(subparsers: Any) -> None:
    """Register ``meshfield train`` and its options."""
    p = subparsers.add_parser(
        "train",
        help="train a model on a dataset folder or a data spec",
        description="Train a model; under torchrun --nproc-per-node N it runs data parallel.",
    )
    _add_train_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """``meshfield train`` for parsed options; the exit status."""
    from meshfield.train.loop import run_train

    return run_train(args)


def _add_train_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``meshfield train``: the run's, then one per TrainConfig field."""
    from meshfield.train.config import TrainConfig

    p.add_argument("source", help="dataset folder, or a data spec (.yaml) generated first if needed")
    p.add_argument("--out", required=True, help="run folder: checkpoints last/ best/, log.jsonl")
    p.add_argument("--data", default=None, help="dataset folder of a spec (default: data/<spec name>)")
    p.add_argument("--jobs", type=int, default=1, help="simulations at once if data is generated")
    p.add_argument("--resume", action="store_true", help="continue the run in --out exactly")
    p.add_argument("--until-epoch", type=int, default=None, help="stop after this epoch for now")
    p.add_argument("--config", default=None, help="JSON file of TrainConfig fields (options win)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    group = p.add_argument_group(
        "TrainConfig fields",
        "each sets the field of its name; one not given keeps the value of --config, of the "
        "resumed run, else the default",
    )
    for name, kind, text in _config_options(TrainConfig):
        flag = "--" + name.replace("_", "-")
        if kind is bool:
            group.add_argument(flag, action="store_true", default=None, help=text)
        elif kind is tuple:
            group.add_argument(
                flag, action="append", default=None, metavar=_METAVARS.get(name), help=text
            )
        else:
            group.add_argument(flag, type=kind, default=None, metavar=_METAVARS.get(name), help=text)


def _config_options(config: type) -> list[tuple[str, type, str]]:
    """``(field, kind, help)`` of each option of a config dataclass, in field order.

    ``kind`` is ``bool`` (a flag), ``tuple`` (repeated, one ``str`` each), or the type of the
    value: ``int``, ``float`` or ``str`` (a mapping is given as JSON text).
    """
    import dataclasses
    import typing

    docs = _parameter_docs(config)
    try:
        hints = typing.get_type_hints(config)
    except Exception:  # noqa: BLE001 - an annotation that does not evaluate: go by the default
        hints = {}
    options = []
    for f in dataclasses.fields(config):
        if f.name in _NOT_OPTIONS:
            continue
        kind = _kind(hints.get(f.name), f)
        if f.name in _OVERRIDES:
            kind, text = _OVERRIDES[f.name]
        else:
            text = _help(f.name, kind, docs.get(f.name))
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


def _help(name: str, kind: type, entry: tuple[str, str] | None) -> str:
    """First sentence of the field's docstring entry, its choices, a note, its default."""
    if entry is None:
        return f"the {name} field of the training configuration"
    head, text = _plain(entry[0]), _plain(entry[1])
    sentence = _first_sentence(text)
    word = sentence.split(" ", 1)[0]
    if word[1:] == word[1:].lower():  # "Token width" as "token width"; "AdamW", "HMT" kept
        sentence = sentence[:1].lower() + sentence[1:]
    choices = re.match(r"\{([^}]*)\}", head)
    if choices:
        names = [c.strip().strip("\"'") for c in choices.group(1).split(",")]
        names += _MORE_CHOICES.get(name, [])
        sentence = f"{', '.join(names[:-1])} or {names[-1]}: {sentence}" if len(names) > 1 else sentence
    if name in _NOTES:
        sentence += f"; {_NOTES[name]}"
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


def _parameter_docs(config: type) -> dict[str, tuple[str, str]]:
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
