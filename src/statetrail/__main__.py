"""``python -m statetrail``: the statetrail command."""

from statetrail.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
