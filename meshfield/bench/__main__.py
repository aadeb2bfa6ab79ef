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
    if not argv or argv[0] not in BENCHMARKS:
        parser.parse_args(argv[:1] or argv)  # prints usage or help and exits
    # everything after the name, --help included, belongs to the benchmark itself
    module = importlib.import_module(BENCHMARKS[argv[0]])
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
