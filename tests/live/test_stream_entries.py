"""Stream entries without a server: a row round-trips, and anything that is not
an entry this library wrote is refused with SyncError, naming what is wrong."""

from __future__ import annotations

import json
from typing import Any

import pytest

import statetrail
from statetrail.errors import SyncError
from statetrail.storage._stream import decode_entry, encode_entry, entry_id, number_of
from statetrail.storage.base import Row


def _rows() -> list[Row]:
    repo = statetrail.open(":memory:")
    store = repo.store("job", {"email": None, "n": 0})
    store.set("email", "ann@example.org", comment="hello", author="ann")
    store.set("n", 2)
    return repo.backend.read("job")


def test_every_row_round_trips_as_bytes_and_as_text() -> None:
    for row in _rows():
        fields = encode_entry(row)
        as_bytes = {k.encode(): v for k, v in fields.items()}
        as_text = {k: v.decode() for k, v in fields.items()}
        eid = entry_id(row.number)
        assert decode_entry(eid.encode(), as_bytes) == row
        assert decode_entry(eid, as_text) == row


@pytest.mark.parametrize(
    "eid", ["01-1", "-1", "1-2", "²-1", "1" * 20 + "-1", "x-1", "1-1-1", "", "7"]
)
def test_ids_not_written_here_are_refused(eid: str) -> None:
    with pytest.raises(SyncError, match="was not published here"):
        number_of(eid)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"number": 2}, "its number says 2"),
        ({"number": True}, "its number says True"),
        ({"parents": [1, 0]}, "parents"),
        ({"parents": [-1]}, "parents"),
        ({"parents": [1.0]}, "parents"),
        ({"parents": {}}, "parents"),
        ({"paths": "/n"}, "paths are not a list"),
        ({"paths": [1]}, "paths is"),
        ({"time_ns": 2**70}, "time_ns is a real number"),
        ({"time_ns": 2**63}, "time_ns is an integer out of range"),
        ({"target": "3"}, "target is text"),
        ({"payload": {"patch": []}}, "payload is an object"),
        ({"extra": 1}, "extra is an integer"),
        ({"kind": None}, "kind is null"),
        ({"surprise": 1}, "unknown keys"),
    ],
)
def test_rows_of_the_wrong_shape_are_refused(change: dict[str, Any], why: str) -> None:
    row = _rows()[1]
    data = json.loads(encode_entry(row)["row"])
    data.update(change)
    fields = {b"format": b"2", b"row": json.dumps(data).encode()}
    with pytest.raises(SyncError, match=why):
        decode_entry(entry_id(1), fields)


def test_a_missing_key_and_a_missing_field_are_refused() -> None:
    row = _rows()[1]
    data = json.loads(encode_entry(row)["row"])
    del data["digest"]
    with pytest.raises(SyncError, match="it has no digest"):
        decode_entry(entry_id(1), {"format": "2", "row": json.dumps(data)})
    with pytest.raises(SyncError, match="1 fields, not format and row"):
        decode_entry(entry_id(1), {"format": "2"})
    with pytest.raises(SyncError, match="unknown format"):
        decode_entry(entry_id(1), {"format": "1", "row": json.dumps(data)})
    with pytest.raises(SyncError, match="not a JSON object"):
        decode_entry(entry_id(1), {"format": "2", "row": "[]"})


def test_the_quick_type_check_accepts_nothing_the_full_one_refuses() -> None:
    """``_usual`` (one expression) lets a row skip ``check_row``: it must never
    accept a field value that ``check_row`` refuses."""
    from statetrail.errors import CorruptHistoryError
    from statetrail.storage._row_checks import check_row
    from statetrail.storage._stream import _usual

    odd: list[Any] = [None, 0, -1, 2**63, -(2**63) - 1, "x", 1.0, True, [], ("/a",)]
    odd += [(1,), ["/a"], b"x"]
    accepted = 0
    for row in _rows():
        assert _usual(row)
        for field in Row._fields:
            if field in ("number", "parent"):
                continue  # checked against the entry's id before
            for value in odd:
                changed = row._replace(**{field: value})
                if _usual(changed):
                    accepted += 1
                    try:
                        check_row(changed, "test")
                    except CorruptHistoryError:  # pragma: no cover - the failure
                        pytest.fail(f"{field}={value!r} passes _usual only")
    assert accepted > 20  # the optional fields' None and text, the times ...


def _forged(row: Row, previous: str, **change: Any) -> Row:
    """``row`` changed, with its digest and chain made again to match: what a
    hostile writer who knows the format can put in a stream."""
    from statetrail.storage._integrity import (
        chain_v2,
        meta_bytes,
        payload_digest,
        row_digest,
    )

    row = row._replace(**change)
    assert row.payload is not None
    digest = row_digest(meta_bytes(row), payload_digest(row.payload.encode()))
    return row._replace(digest=digest, chain=chain_v2(previous, digest))


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"payload": '{"patch":[["=",["n"],{"$t":"nope","v":1}]]}'}, "nope"),
        ({"payload": '{"patch":[["=",[{"$t":"nope"}],1]]}'}, "malformed tagged"),
        ({"payload": '{"patch":[["=",[["n"]],1]]}'}, "does not apply"),
        ({"payload": '{"patch":[["?",["n"],1]]}'}, "malformed"),
        ({"payload": '{"patch":[["=","n",1]]}'}, "list of keys"),
        ({"payload": '{"patch":[["=",["n"],1.5e999]]}'}, "cannot be read"),
        ({"extra": '{"op":"set","op":"x"}'}, "appears twice"),
        ({"extra": '{"$t":"nope","v":1}'}, "nope"),
        ({"origin": '["f.py","one","g","t",null]'}, "origin"),
    ],
)
def test_a_forged_entry_that_verifies_is_still_refused(
    change: dict[str, Any], why: str
) -> None:
    """An entry whose digest and chain were made to match what it holds passes
    the hash checks; what it holds is still read strictly (the cheap apply
    path takes plain patch steps as they are, and reads notes and origins once
    per text), so it is refused with SyncError and the applier stays where it
    was. Checked by hand to fail with each strict read made lenient."""
    from statetrail.live._core import Applier

    rows = _rows()
    applier = Applier("job")
    applier.take(rows[0])
    forged = _forged(rows[1], rows[0].chain, **change)
    entry = encode_entry(forged)
    with pytest.raises(SyncError, match=why):
        applier.take(decode_entry(entry_id(1), entry))
    assert applier.next == 1
    assert applier.take(rows[1]) is not None  # the true one still applies
