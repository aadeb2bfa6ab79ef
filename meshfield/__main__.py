"""``python -m meshfield`` is the ``meshfield`` command."""

from meshfield.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
