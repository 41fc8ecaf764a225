"""Strict reading (RELIABILITY S3): malformed history is refused, fast, and only so.

Every malformed document must raise CorruptHistoryError or another ValueError,
never a different exception, never hang, never be silently accepted.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from statetrail.errors import CorruptHistoryError
from statetrail.frozen import FrozenDict, FrozenList, freeze
from statetrail.storage import _codec_registry, codec
from statetrail.storage.codec import CodecError
from tests.storage.codec_helpers import assert_same, register_samples, values


@pytest.fixture(autouse=True)
def _registry() -> Iterator[None]:
    """Each test starts with only the sample classes registered."""
    _codec_registry._reset()
    register_samples()
    yield
    _codec_registry._reset()


def _tag(tag: str, payload: str) -> bytes:
    return b'{"$t":"' + tag.encode() + b'","v":' + payload.encode() + b"}"


#: Malformed documents: JSON syntax, encodings, limits, then bad tags.
MALFORMED: list[bytes | str] = [
    b"",
    b"   ",
    b'{"a": 1',
    b'{"a":1',
    b"[1, 2",
    b"[1,]",
    b'{"a":1,}',
    b"[1] x",
    b"{1: 2}",
    b"{'a': 1}",
    b'{"a" 1}',
    b"[01]",
    b"[1.]",
    b"[.5]",
    b"[+1]",
    b"[0x10]",
    b"[tru]",
    b'["a\tb"]',
    b'["\\x41"]',
    b'["\\u12"]',
    b'"abc',
    b'"\\',
    b'"\\ud800"',
    b'"\\udc00\\ud800"',
    b'{"a":1,"a":2}',
    b'{"a":1,"a":1}',
    b'{"a": 1, "a": 1}',
    b'{"b":{"x":[1],"x":[1]}}',
    b'[{"k":1},{"k":1,"k":2}]',
    b'{"$t":"tuple","$t":"tuple","v":[]}',
    b"NaN",
    b"[NaN]",
    b"[Infinity]",
    b"[-Infinity]",
    b'{"a":nan}',
    b"1e400",
    b"[-1e400]",
    b'{"x": 1E999}',
    b'"\xff"',
    b"\xc3\x28",
    b'["\xed\xa0\x80"]',
    b'["\xf8\x88\x80\x80\x80"]',
    b"\xef\xbb\xbf{}",
    b"\xff\xfe[\x001\x00]\x00",
    b"[" * 100_000,
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 100_000,
    b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    b"[" * 300 + b"]" * 300,
    b"[" * (codec.MAX_DEPTH + 1) + b"]" * (codec.MAX_DEPTH + 1),
    b'{"$t":"tuple","v":[' * 120 + b"]}" * 120,
    b'{"$t": 5, "v": 1}',
    b'{"$t": null, "v": 1}',
    b'{"$t": ["tuple"], "v": []}',
    b'{"$t": "tuple"}',
    b'{"$t":"tuple","v":[],"x":1}',
    _tag("tuple", "1"),
    _tag("tuple", '{"a":1}'),
    _tag("set", "[1,1]"),
    _tag("set", "[1,true]"),
    _tag("frozenset", '[{"$t":"tests.storage.codec_helpers.Box","v":{"items":[]}}]'),
    _tag("dict", "[1]"),
    _tag("dict", '[1,"a",1,"b"]'),
    _tag("dict", '[{"$t":"tests.storage.codec_helpers.Box","v":{"items":[]}},"a"]'),
    _tag("dict", "5"),
    _tag("bytes", '"!!!"'),
    _tag("bytes", '"abc"'),
    _tag("bytes", '"YQ==="'),
    _tag("bytes", '"\\u00e9"'),
    _tag("bytes", "5"),
    _tag("bytearray", "null"),
    _tag("int", '"12a"'),
    _tag("int", '" 12"'),
    _tag("int", '"1_000"'),
    _tag("int", '"' + "1" * 5000 + '"'),
    _tag("int", "12"),
    _tag("float", '"1.5"'),
    _tag("float", '"NaN"'),
    _tag("float", "1.5"),
    _tag("decimal", '"abc"'),
    _tag("decimal", "1.5"),
    _tag("fraction", '"1/0"'),
    _tag("fraction", '"1e999999999"'),
    _tag("fraction", '"1.5"'),
    _tag("complex", '"1+"'),
    _tag("complex", "[1,2]"),
    _tag("datetime", '"2024-13-01"'),
    _tag("datetime", '"yesterday"'),
    _tag("datetime", '"2024-01-01T00:00:00[Europe/Paris]"'),
    _tag("datetime", '"2024-01-01T00:00:00+01:00[../../etc/passwd]"'),
    _tag("datetime", '"2024-01-01T00:00:00+01:00[/etc/localtime]"'),
    _tag("datetime", '"2024-01-01T00:00:00+01:00]"'),
    _tag("datetime", '"2024-01-01T00:00:00[tzname=X]"'),
    _tag("time", '"25:00"'),
    _tag("time", '"10:00+01:00[Europe/Paris]"'),
    _tag("date", '"2024-02-30"'),
    _tag("timedelta", "[1,2]"),
    _tag("timedelta", "[1.5,0,0]"),
    _tag("timedelta", "[true,0,0]"),
    _tag("timedelta", "[1000000000,0,0]"),
    _tag("uuid", '"nope"'),
    _tag("uuid", "5"),
    _tag("posixpath", "null"),
    _tag("pickle", '"gASVAAAA"'),
    _tag("no.such.Class", "1"),
    _tag("tests.storage.codec_helpers.Color", '"blue"'),
    _tag("tests.storage.codec_helpers.FrozenPoint", "[1,2]"),
    _tag("tests.storage.codec_helpers.Box", '{"items":[],"size":3}'),
    _tag("tests.Pair", "[1]"),
    _tag("tests.storage.codec_helpers.Model", '{"name":1}'),
]


def _ids(document: bytes | str) -> str:
    text = repr(document)
    return text if len(text) < 60 else f"{text[:50]}...({len(document)})"


class TestMalformedDocuments:
    @pytest.mark.parametrize("document", MALFORMED, ids=_ids)
    def test_refused_fast_as_corrupt_history(self, document: bytes) -> None:
        """Each is CorruptHistoryError (or CodecError) within 5 s, bytes or str."""
        inputs: list[bytes | str] = [document]
        with contextlib.suppress(UnicodeDecodeError):
            inputs.append(document.decode("utf-8"))
        for data in inputs:
            start = time.perf_counter()
            with pytest.raises((CorruptHistoryError, CodecError)):
                codec.loads(data)
            assert time.perf_counter() - start < 5

    def test_unregistered_name_is_a_codec_error(self) -> None:
        """A tag naming no registered class is a CodecError, also a ValueError."""
        with pytest.raises(CodecError, match=r"no\.such\.Class"):
            codec.loads(_tag("no.such.Class", "1"))

    def test_duplicate_key_is_named(self) -> None:
        """The message names the duplicated key."""
        with pytest.raises(CorruptHistoryError, match="'dup' appears twice"):
            codec.loads(b'{"a":{"dup":1,"dup":2}}')

    @pytest.mark.parametrize(
        "data",
        [
            {1: "a"},
            [float("nan")],
            {"a": float("inf")},
            (1, 2),
            [b"raw"],
            {"a": object()},
            FrozenDict({"a": 1}),
        ],
        ids=repr,
    )
    def test_from_json_refuses_what_json_cannot_hold(self, data: Any) -> None:
        """from_json on Python data that is not a JSON tree is CorruptHistoryError."""
        with pytest.raises(CorruptHistoryError):
            codec.from_json(data)

    @pytest.mark.parametrize("depth", [codec.MAX_DEPTH + 1, 100_000])
    def test_from_json_depth(self, depth: int) -> None:
        """Trees nested beyond MAX_DEPTH are refused without recursing into them."""
        data: Any = []
        for _ in range(depth - 1):
            data = [data]
        with pytest.raises(CorruptHistoryError, match="deeper than"):
            codec.from_json(data)

    def test_parse_rejects_non_text(self) -> None:
        """parse() takes bytes or str; anything else is a TypeError."""
        with pytest.raises(TypeError):
            codec.parse(123)  # type: ignore[arg-type]


class TestDamagedDocuments:
    @given(value=values, data=st.data())
    @settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
    def test_damaged_bytes_load_or_are_refused(self, value: Any, data: Any) -> None:
        """Stored bytes truncated, or with bytes flipped or inserted, load or raise
        CorruptHistoryError or CodecError: nothing else, and never a hang."""
        document = bytearray(codec.dumps(value))
        for _ in range(data.draw(st.integers(1, 3), label="damages")):
            at = data.draw(st.integers(0, len(document)), label="offset")
            kind = data.draw(st.sampled_from(["cut", "flip", "insert"]), label="kind")
            byte = data.draw(st.sampled_from(b'"[]{},:\\0e-.$tv\x00\xff'))
            if kind == "cut":
                del document[at:]
            elif kind == "flip" and at < len(document):
                document[at] = byte
            else:
                document.insert(at, byte)
        start = time.perf_counter()
        try:  # any other exception fails the test
            loaded = codec.loads(bytes(document))
        except (CorruptHistoryError, CodecError):
            pass
        else:  # whatever loads can be stored again, unchanged
            assert_same(codec.loads(codec.dumps(loaded)), loaded)
        assert time.perf_counter() - start < 5


class TestWellFormedDocuments:
    def test_other_writers_are_read(self) -> None:
        """Documents not in canonical form (spaces, key order) still load."""
        text = json.dumps(
            {"b": [1, 2.5, None], "a": {"$t": "tuple", "v": [1]}}, indent=2
        )
        assert_same(codec.loads(text), freeze({"b": [1, 2.5, None], "a": (1,)}))

    def test_big_integer_literals_stay_exact(self) -> None:
        """An integer literal beyond 64 bits from another writer is not made a float."""
        assert codec.loads(b"[18446744073709551616]") == FrozenList([2**64])
        assert type(codec.loads(b"[18446744073709551616]")[0]) is int

    def test_tiny_numbers_and_nul(self) -> None:
        """Underflowing literals read as 0.0; \\u0000 is a character like any other."""
        assert codec.loads(b"[1e-400]") == FrozenList([0.0])
        assert codec.loads(b'"a\\u0000b"') == "a\x00b"

    def test_canonical_bytes_take_the_fast_path(self) -> None:
        """Bytes written by dumps parse to the same tree as the slow duplicate scan."""
        data = codec.dumps({"k": [1, 2.5, "é", {"n": None}], "s": {3, 1}})
        assert codec.parse(data) == json.loads(data)


class TestCanonicalAndDigest:
    def test_canonical_keeps_order_and_compacts(self) -> None:
        """Keys in the dict's order (issue 10; they were sorted), no spaces, UTF-8
        (not \\u escapes)."""
        assert (
            codec.canonical({"b": 1, "a": ["é", 2.5]})
            == '{"b":1,"a":["é",2.5]}'.encode()
        )

    @pytest.mark.parametrize(
        "bad", [{1: "a"}, [2**64], [object()], {"a": {1, 2}}], ids=repr
    )
    def test_canonical_refuses_non_json(self, bad: Any) -> None:
        """canonical() takes JSON trees only."""
        with pytest.raises(CodecError):
            codec.canonical(bad)

    def test_bytes_do_not_depend_on_the_hash_seed(self) -> None:
        """Two processes with different string hashing write a set the same way."""
        script = (
            "from statetrail.storage import codec; import sys; "
            "sys.stdout.buffer.write(codec.dumps({'s': {'a', 'b', 'c', 'dd', 'e'},"
            " 'm': {('x', 1): 1, ('y', 2): 2, 3: 3}, 'f': frozenset({'p', 'q', 'r'})}))"
        )
        outputs = set()
        for seed in ("1", "2", "3"):
            env = {**os.environ, "PYTHONHASHSEED": seed}
            done = subprocess.run(
                [sys.executable, "-c", script], env=env, capture_output=True, check=True
            )
            outputs.add(done.stdout)
        assert len(outputs) == 1

    def test_digest(self) -> None:
        """SHA-256 over length-prefixed parts: boundaries matter, order matters."""
        assert len(codec.digest(b"x")) == 64
        assert codec.digest(b"ab", b"c") != codec.digest(b"a", b"bc")
        assert codec.digest(b"", b"a") != codec.digest(b"a", b"")
        assert codec.digest(b"a", b"b") != codec.digest(b"b", b"a")
        assert codec.digest() != codec.digest(b"")
        with pytest.raises(TypeError):
            codec.digest("text")  # type: ignore[arg-type]
