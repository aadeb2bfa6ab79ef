"""The ``meshfield`` command.

``meshfield --help`` lists the subcommands; each has its own ``--help``. Every subcommand is
one module of this package with ``add_parser(subparsers)``, which registers it and its
options, and ``run(args) -> int``, which runs it; :data:`COMMANDS` is their order in
``meshfield --help``. Modules load what they need (torch, models, data) when they run.
"""

from __future__ import annotations

import argparse
import sys

from meshfield.cli import (
    bench,
    convert,
    datagen,
    evaluate,
    finetune,
    generate,
    info,
    plot,
    roundtrip,
    train,
)
from meshfield.cli._common import _expected_errors, _one_line, default_mesh_path

__all__ = ["COMMANDS", "build_parser", "default_mesh_path", "main"]

#: the subcommand modules, in the order ``meshfield --help`` lists them
COMMANDS = (info, generate, convert, roundtrip, bench, plot, datagen, train, evaluate, finetune)

#: errors a command reports in one line (bad input, missing files or tools, divergence);
#: anything else is a bug and keeps its traceback
_EXPECTED = _expected_errors()


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``meshfield`` command."""
    from meshfield import __version__

    parser = argparse.ArgumentParser(
        prog="meshfield",
        description="Learn physical fields on unstructured meshes.",
    )
    parser.add_argument("--version", action="version", version=f"meshfield {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an error (before COMMAND)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``meshfield`` command."""
    from meshfield.runtime import tune_malloc

    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    tune_malloc()  # large activations reuse heap memory instead of fresh page-faulted maps
    try:
        return int(args.func(args) or 0)
    except _EXPECTED as exc:
        if args.debug:
            raise
        print(f"meshfield {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
