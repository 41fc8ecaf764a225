"""The engine's two seams: front ends commit through Timeline._commit, storage
sees a timeline through a Handle (see docs/engine.md, "Seams")."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import statetrail
from statetrail import ConflictError, Timeline
from statetrail.revision import PLAIN, VALUE, Change, Revision, RevisionKind
from statetrail.timeline import Erased, Handle


class TestFrontEndSeam:
    def test_commit_records_a_value_with_metadata(self) -> None:
        """One call: value, metadata and expected head; the record comes back."""
        t = Timeline({"a": 1})
        info = (RevisionKind.SET, None, "v2", "ann", "why", {"op": "set"})
        record = t._commit({"a": 2}, info=info, expect=0)
        rev = Revision(record, t)
        assert (rev.number, rev.value) == (1, {"a": 2})
        assert (rev.label, rev.author, rev.comment) == ("v2", "ann", "why")
        assert rev.extra == {"op": "set"}
        assert t.head == rev

    def test_commit_refuses_a_moved_head(self) -> None:
        """An expected head that is not the cursor raises; nothing is recorded."""
        t = Timeline(0)
        t.set(1)
        with pytest.raises(ConflictError, match="expected revision 0"):
            t._commit(2, info=PLAIN, expect=0)
        assert len(t) == 2

    def test_commit_of_changes_applies_them_to_the_head(self) -> None:
        """Given changes and no value, the new value is the head with them."""
        t = Timeline({"a": 1, "b": {"c": 2}})
        changes = (Change(("b", "c"), 2, 3),)
        record = t._commit(changes=changes)
        assert record[VALUE] == {"a": 1, "b": {"c": 3}}
        assert t.diff(0) == list(changes)

    def test_commit_needs_a_value_or_changes(self) -> None:
        """Neither given is a TypeError, and nothing is recorded."""
        t = Timeline(0)
        with pytest.raises(TypeError, match="a value or its changes"):
            t._commit()
        assert len(t) == 1

    def test_shared_info_is_recorded_as_given(self) -> None:
        """A front end's info without text is recorded as the very tuple (shared
        by its revisions), and the context's metadata still fills it in."""
        t = Timeline(0)
        info = (RevisionKind.SET, None, None, None, None, {"path": "x"})
        a = t._commit(1, info=info)
        b = t._commit(2, info=info)
        assert a[5] is info
        assert b[5] is info
        with statetrail.context(author="ctx"):
            c = Revision(t._commit(3, info=info), t)
        assert (c.author, c.extra) == ("ctx", {"path": "x"})

    def test_commit_checks_text(self) -> None:
        """Metadata text is checked at the seam as for every write."""
        t = Timeline(0)
        with pytest.raises(ValueError, match="author"):
            t._commit(1, info=(RevisionKind.SET, None, None, "a\0b", None, None))
        assert len(t) == 1


class _Recording:
    """A journal that notes what the handle shows on each call."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []

    def record(self, timeline: Handle, revision: Revision) -> None:
        assert isinstance(timeline, Handle)
        self.seen.append(("record", timeline.next))

    def moved(self, timeline: Handle) -> None:
        self.seen.append(("moved", timeline.timeline.head.number))

    def refresh(self, timeline: Handle) -> None:
        with timeline.lock:
            self.seen.append(("refresh", timeline.next))

    def erase(self, timeline: Handle, number: int, tombstone: Erased) -> None:
        children = [r[0] for r in timeline.children(number)]
        self.seen.append(("erase", len(children)))


class TestStorageSeam:
    def test_a_journal_gets_the_handle(self) -> None:
        """Every journal call gets the timeline's handle, never the timeline."""
        journal = _Recording()
        t = Timeline(0, journal=journal)
        t.set(1)
        t.set(2)
        t.checkout(1)
        t.sync()
        t.erase(0, reason="privacy")
        assert journal.seen == [
            ("record", 1),  # revision 0 is recorded before it is held
            ("record", 1),
            ("record", 2),
            ("moved", 1),
            ("refresh", 3),
            ("erase", 1),
        ]

    def test_handle_reads_and_absorbs(self) -> None:
        """find, children, next and absorb, under the timeline's lock."""
        t: Timeline[Any] = Timeline(0, name="h")
        t.set(1)
        t.checkout(0)
        t.set(2)  # a fork: revision 2's parent is 0
        handle = Handle(t)
        assert handle.name == "h"
        assert handle.next == 3
        assert [r[0] for r in handle.children(0)] == [1, 2]
        assert handle.find(5) is None
        other = (3, 2, "branch-2", 3, 0, PLAIN, None, None, None, None)
        seen: list[int] = []
        t.add_listener(lambda rev: seen.append(rev.number))
        with handle.lock:
            handle.absorb([other])
        assert t.value == 3
        assert handle.next == 4
        assert seen == [3]
        assert isinstance(handle.lock, type(threading.RLock()))

    def test_restore(self) -> None:
        """Storage builds a timeline from stored records through the handle."""
        t = Timeline(0)
        t.set(1)
        t.checkout(0)
        t.set(2)
        records = [r._rec for r in t.revisions()]
        back = Handle.restore(records, branch="main", cursor=1, tips={"branch-2": 2})
        assert back.value == 1
        assert back.branches() == {"main": 1, "branch-2": 2}
        assert [r.number for r in back.history("branch-2")] == [0, 2]


class _RefusesMoves(_Recording):
    """A journal whose storage fails when the cursor moves."""

    def moved(self, timeline: Handle) -> None:
        raise OSError("disk full")


class TestCursor:
    def test_a_move_storage_refuses_is_taken_back(self) -> None:
        """checkout, switch and branch leave the cursor, its branch and the
        branches as they were when the journal raises."""
        t = Timeline(0, journal=_RefusesMoves())
        t.set(1)
        t.set(2)
        before = (t.head.number, t.current_branch, t.branches())
        with pytest.raises(OSError, match="disk full"):
            t.checkout(0)
        with pytest.raises(OSError, match="disk full"):
            t.branch("side", at=1)
        assert (t.head.number, t.current_branch, t.branches()) == before
        assert t.value == 2
        assert t.set(3).parents == (2,)  # still appends on main


#: The modules converted to the seams rule: no private name of another object
#: is read here except at the two seams (and the stdlib's Thread._name, read
#: on the hot path for speed). pyproject.toml's per-file-ignores list the rest.
_CONVERTED = [
    "timeline.py",
    "_history.py",
    "_cursor.py",
    "_origin.py",
    "_records.py",
    "_undo.py",
    "_retention.py",
    "_listeners.py",
    "var.py",
    "store.py",
    "_store_core.py",
    "_store_transaction.py",
    "context.py",
    "repository.py",
    "revision.py",
    "compat/alma.py",
]
_SEAMS = ("the commit seam", "the storage seam", "storage seam", "stdlib field")


def _noqa_reasons(source: str) -> list[tuple[int, str]]:
    """(line, text after it) of each ``noqa: SLF001`` in ``source``."""
    marker = "noqa: SLF001"
    return [
        (number, line.split(marker, 1)[1])
        for number, line in enumerate(source.splitlines(), 1)
        if marker in line
    ]


class TestOnlyTheSeams:
    def test_ruff_checks_private_names_in_the_engine_and_front_ends(self) -> None:
        """SLF001 is not switched off for any converted module (ruff, run by
        ``make lint``, then refuses every unmarked private read)."""
        import tomllib
        from fnmatch import fnmatch
        from pathlib import Path

        config = tomllib.loads(
            (Path(__file__).parent.parent / "pyproject.toml").read_text()
        )
        ruff = config["tool"]["ruff"]
        assert "SLF001" in ruff["lint"]["select"] or "SLF" in ruff["lint"]["select"]
        ignores = ruff["lint"]["per-file-ignores"]
        off = [
            (module, pattern)
            for module in _CONVERTED
            for pattern, rules in ignores.items()
            if "SLF001" in rules and fnmatch(f"src/statetrail/{module}", pattern)
        ]
        assert off == []

    def test_private_names_are_read_only_at_the_seams(self) -> None:
        """Each ``noqa: SLF001`` in the engine and the front ends names a seam."""
        from pathlib import Path

        root = Path(statetrail.__file__).parent
        strays = [
            f"{module}:{number}:{reason}"
            for module in _CONVERTED
            for number, reason in _noqa_reasons((root / module).read_text())
            if not any(seam in reason for seam in _SEAMS)
        ]
        assert strays == []
        assert len(_noqa_reasons((root / "timeline.py").read_text())) >= 6

    def test_the_check_reads_the_reason(self) -> None:
        """A noqa without a seam's name is found; one with it is read as such."""
        source = (
            "a._b  # noqa: SLF001 - for speed\nc._d  # noqa: SLF001 - the commit seam\n"
        )
        found = _noqa_reasons(source)
        assert [n for n, reason in found if not any(s in reason for s in _SEAMS)] == [1]
