"""The original packages' own test suites, run against the compat modules.

Vendored from the packages' source distributions, unchanged but for their import
lines (``import alma`` -> ``import statetrail.compat.alma as alma``,
``from shoobx.immutable import`` -> ``from statetrail.compat.shoobx_immutable
import``, ``import mock`` -> ``from unittest import mock``):

- ``test_alma_upstream.py``: alma-framework 0.1.0, ``tests/test.py`` (MIT,
  ``LICENSE-alma-framework.txt``);
- ``test_shoobx_immutable_upstream.py`` and ``test_shoobx_revisioned_upstream.py``:
  shoobx.immutable 1.2.0, ``src/shoobx/immutable/tests/test_immutable.py`` and
  ``test_revisioned.py`` (ZPL 2.1, ``LICENSE-shoobx.immutable.txt``, copyright
  ``COPYRIGHT-shoobx.immutable.txt``). ``test_pjpersist.py`` is left out: the
  PostgreSQL store is statetrail's own.

The tests below run as strict xfails, each for the reason given: they check
behaviour the compat module changes on purpose. The same list, with the same
reasons, is in :mod:`statetrail.compat.shoobx_immutable`'s docstring (a test in
``tests/compat/test_shoobx_immutable.py`` checks that the two agree), and
``tests/compat/test_shoobx_immutable.py::TestUpstreamExemptionsTranslated`` runs
what each of them checks that statetrail keeps, and what it refuses instead.
"""

from __future__ import annotations

import pytest

from statetrail.errors import FrozenError

_ATTRIBUTE_SETTING = (
    "writes to a locked {kind}'s .data ({write}), which shoobx allowed (its test "
    "asks 'do we allow this???'): statetrail refuses it, as it refuses every write "
    "to a locked immutable (which may be in recorded history), so the test stops "
    "at FrozenError; it also gives a transient {kind} a new attribute, which "
    "statetrail refuses too (a container has only its items)"
)

#: Tests of behaviour the compat module changes on purpose (see its docstring):
#: node id -> (the reason, the exception the test fails with). Run as strict
#: xfails, so that they are noticed if they start passing or fail otherwise.
DIFFERS_ON_PURPOSE: dict[str, tuple[str, type[BaseException]]] = {
    "test_shoobx_immutable_upstream.py::ImmutableDictTest::test_attribute_setting": (
        _ATTRIBUTE_SETTING.format(kind="dict", write="dct.data['answer'] = 42"),
        FrozenError,
    ),
    "test_shoobx_immutable_upstream.py::ImmutableListTest::test_attribute_setting": (
        _ATTRIBUTE_SETTING.format(kind="list", write="im_list.data.append(42)"),
        FrozenError,
    ),
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests that differ on purpose (see the module docstring)."""
    for item in items:
        name = item.nodeid.rpartition("/")[2]
        if name in DIFFERS_ON_PURPOSE:
            reason, raises = DIFFERS_ON_PURPOSE[name]
            item.add_marker(
                pytest.mark.xfail(strict=True, raises=raises, reason=reason)
            )
