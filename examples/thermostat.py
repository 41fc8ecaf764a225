"""A thermostat whose every setting is recorded: who changed it, why, and where.

Run it with ``python examples/thermostat.py``.
"""

from __future__ import annotations

import statetrail


def main() -> None:
    thermostat = statetrail.watch("thermostat", {"target": 20.0, "mode": "auto"})

    def sane(settings: statetrail.FrozenDict[str, object]) -> None:
        target = settings["target"]
        if not isinstance(target, float) or not 5.0 <= target <= 30.0:
            raise ValueError(f"target {target!r} is out of range")

    thermostat.add_validator(sane)

    with statetrail.context(author="alice", comment="too cold"):
        thermostat.set_in("target", 22.5)
    with statetrail.context(author="bob", comment="going on holiday"):
        thermostat.set_in("mode", "away")
    try:
        thermostat.set_in("target", 80.0)
    except ValueError as exc:
        print(f"rejected: {exc}")

    for rev in thermostat.history():
        where = f"line {rev.origin.line}" if rev.origin else "-"
        changes = ", ".join(f"{c.dotted}={c.new!r}" for c in rev.changes) or "initial"
        print(f"#{rev.number} {rev.author or '-':6} {changes:22} ({where})")
    print("who set the target:", thermostat.blame("target").author)


if __name__ == "__main__":
    main()
