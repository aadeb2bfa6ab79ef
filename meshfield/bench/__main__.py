"""``python -m meshfield.bench NAME [options]``."""

from __future__ import annotations

import argparse
import importlib
import sys

from meshfield.bench import BENCHMARKS


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="meshfield bench",
        description="Run a benchmark and print its figures.",
    )
    parser.add_argument("name", choices=sorted(BENCHMARKS), help="which benchmark to run")
    args, rest = parser.parse_known_args(argv)
    module = importlib.import_module(BENCHMARKS[args.name])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
