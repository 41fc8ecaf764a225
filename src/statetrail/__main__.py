"""``python -m statetrail``: the statetrail command."""

from statetrail.cli import main

raise SystemExit(main())
