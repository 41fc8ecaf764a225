"""Shared test settings: hypothesis profiles and the scale factor.

``STATETRAIL_SCALE`` (default 1) multiplies the sizes of the load and reliability
tests; ``make soak`` runs them at 10. Hypothesis uses the ``ci`` profile, or
``soak`` when scaled up.
"""

from __future__ import annotations

import os
import sys
import threading

from hypothesis import HealthCheck, settings

SCALE = max(1, int(os.environ.get("STATETRAIL_SCALE", "1")))

settings.register_profile(
    "ci",
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "soak",
    max_examples=100 * SCALE,
    stateful_step_count=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("soak" if SCALE > 1 else "ci")


def scaled(n: int, ci: int | None = None) -> int:
    """``n`` times the suite's scale factor; ``ci`` instead at scale 1, if given.

    ``ci`` is a smaller size for ``make test`` (which must finish in 10 minutes on
    2 cores, coverage on) that still runs the trial's point: the same threads,
    processes and checks, fewer iterations. ``make soak`` (scale 10) runs ``n``
    times 10, the soak size RELIABILITY.md names, and any scale above 1 runs
    ``n`` times it.
    """
    if ci is not None and SCALE == 1:
        return ci
    return n * SCALE


if sys.version_info < (3, 12):
    _start = threading.Thread.start

    def _start_once_traced(self: threading.Thread) -> None:
        """``Thread.start``, returning once the thread runs its own code.

        Under coverage on Python 3.11 every new thread installs the trace function
        as it starts (``sys.settrace`` in ``Thread._bootstrap_inner``), and two
        threads installing at once can make one of them die before it runs its
        target, with "Cannot install a trace function while another trace
        function is being installed" (a process-wide flag in CPython,
        cpython#98257; coverage traces through ``sys.monitoring`` from 3.12). A
        test would then wait for a thread that is gone. Waiting here until the
        thread has entered ``run`` keeps two threads from starting at once.
        """
        if threading.gettrace() is None:
            _start(self)
            return
        entered = threading.Event()
        run = self.run

        def announced() -> None:
            entered.set()
            run()

        self.run = announced  # type: ignore[method-assign]
        _start(self)
        while not entered.wait(0.05) and self.is_alive():
            pass

    threading.Thread.start = _start_once_traced  # type: ignore[method-assign]
