"""The JSON codec: every tagged type round-trips exactly; the rest is refused.

Strict reading (malformed documents, duplicate keys) is in test_codec_loading.py.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import fractions
import math
import pathlib
import pickle
import sys
import uuid
import zoneinfo
from collections import namedtuple
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from statetrail import diff
from statetrail._change import UNSTORED, Change
from statetrail.diff import apply_changes
from statetrail.errors import CorruptHistoryError, NestingError, StatetrailError
from statetrail.frozen import MISSING, FrozenDict, FrozenList, FrozenSet, freeze
from statetrail.frozen._opaque import Opaque
from statetrail.storage import _codec_registry, codec
from statetrail.storage.codec import CodecError
from tests.storage.codec_helpers import (
    Box,
    Color,
    FrozenPoint,
    Model,
    Pair,
    Perm,
    Point3,
    assert_same,
    register_samples,
    roundtrip,
    values,
)
from tests.strategies import keys, trees

_plain_trees = trees(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**63), max_value=2**63 - 1),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=10),
    ),
    st.text(max_size=6).filter(lambda key: key != "$t"),  # "$t" keys are tagged
)
PARIS = zoneinfo.ZoneInfo("Europe/Paris")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


@pytest.fixture(autouse=True)
def _registry() -> Iterator[None]:
    """Each test starts with only the sample classes registered."""
    _codec_registry._reset()
    register_samples()
    yield
    _codec_registry._reset()


def _check(value: Any) -> Any:
    """Round-trip ``value`` alone, in a frozen tree, and as a key where it hashes."""
    back = roundtrip(value)
    assert_same(back, freeze(value))
    tree = freeze({"x": [value, {"deep": (value,)}]})
    assert_same(roundtrip(tree), tree)
    try:
        hash(value)
    except TypeError:
        return back
    if value != value:  # NaN: a key nothing can look up
        return back
    keyed = freeze({value: "v", "other": 1})
    assert_same(roundtrip(keyed), keyed)
    assert_same(roundtrip(frozenset([value])), frozenset([value]))
    return back


class TestPlainJSON:
    def test_plain_values_are_written_as_plain_json(self) -> None:
        """Dicts with string keys, lists and JSON scalars carry no tags; keys in
        the dict's order."""
        value = {"b": [1, 2.5, "x", None, True], "a": {"c": -(2**63)}}
        assert codec.dumps(value) == (
            b'{"b":[1,2.5,"x",null,true],"a":{"c":-9223372036854775808}}'
        )

    def test_plain_values_come_back_frozen(self) -> None:
        """Dicts and lists are read back as FrozenDict and FrozenList."""
        back = roundtrip({"a": [1, {"b": None}]})
        assert type(back) is FrozenDict
        assert type(back["a"]) is FrozenList
        assert back == {"a": [1, {"b": None}]}

    @pytest.mark.parametrize(
        "value", [0, -1, 2**63 - 1, -(2**63), 1.5, -0.0, 1e308, 5e-324, "", "é"]
    )
    def test_scalars(self, value: Any) -> None:
        """JSON scalars round-trip with their type and sign."""
        _check(value)

    def test_bool_is_not_int(self) -> None:
        """True stays True and 1 stays 1, as values and as keys."""
        back = roundtrip([True, 1, False, 0])
        assert [type(x) for x in back] == [bool, int, bool, int]
        keyed = roundtrip({True: "t", 2: "two"})
        assert [type(k) for k in sorted(keyed, key=str)] == [int, bool]

    def test_nul_character(self) -> None:
        """U+0000 round-trips inside strings and keys."""
        _check("a\x00b")
        assert_same(roundtrip({"\x00": "\x00"}), freeze({"\x00": "\x00"}))

    def test_naughty_strings(self) -> None:
        """Strings that break naive code round-trip as keys and values."""
        naughty = [
            "$t",
            "v",
            '{"$t": "tuple"}',
            "\u202e\u0644\u0627",
            "\U0001d54b\U0001d559\U0001d556",
            "\ufeff",
            "\\",
            '"',
            "\n\r\t\x7f",
            "Ω≈ç√",
            "1e400",
            "NaN",
        ]
        value = freeze({s: s for s in naughty})
        assert_same(roundtrip(value), value)


class TestNumbers:
    @pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
    def test_non_finite_floats(self, value: float) -> None:
        """NaN and the infinities are tagged, since JSON has no spelling for them."""
        assert codec.to_json(value) == {"$t": "float", "v": codec.to_json(value)["v"]}
        _check(value)

    def test_two_nans_read_back_as_two(self) -> None:
        """A set of two NaNs reads back with both (issue 9, defect 2: decoding
        gave the shared math.nan twice, and the value, and with it the whole
        timeline, could not be read); so does a dict with two NaN keys stored
        before such keys were refused."""
        members = roundtrip({math.nan, float("nan")})
        assert len(members) == 2
        assert all(math.isnan(x) for x in members)
        nan = {"$t": "float", "v": "nan"}
        stored = {"$t": "dict", "v": [nan, 1, nan, 2, "k", 3]}
        keys = codec.from_json(stored)
        assert len(keys) == 3
        assert sorted(v for k, v in keys.items() if k != "k") == [1, 2]
        in_frozenset = roundtrip(frozenset({float("nan"), float("nan"), 1.0}))
        assert len(in_frozenset) == 3

    @pytest.mark.parametrize(
        "key",
        [
            float("nan"),
            (1, float("nan")),
            frozenset({float("nan")}),
            decimal.Decimal("NaN"),
            complex(0, math.nan),
            ("a", (float("nan"),)),
        ],
        ids=repr,
    )
    def test_a_nan_key_is_refused(self, key: Any) -> None:
        """A dict key that is or holds NaN is refused when written, as a value
        and as a patch step: NaN is not equal to itself, so a patch naming the
        key found nothing once read back (issue 9, bad input)."""
        plain = {key: 1}  # a plain dict: a FrozenDict refuses it when made
        with pytest.raises(CodecError, match=r"cannot store value\[.*is or holds NaN"):
            codec.to_json(plain)
        with pytest.raises(CodecError, match="is or holds NaN"):
            codec.changes_to_json([Change(("a", key), 1, 2)])
        assert codec.changes_to_json([Change(("a", (1.5,)), 1, 2)])  # not NaN

    @pytest.mark.parametrize(
        "value", [2**63, -(2**63) - 1, 2**64, -(10**4299), 10**4300 - 1]
    )
    def test_big_ints(self, value: int) -> None:
        """Integers beyond 64 bits are stored as digits, up to 4,300 of them."""
        assert codec.to_json(value)["$t"] == "int"
        _check(value)

    @pytest.mark.parametrize(
        "value",
        [
            "1.10",
            "-0",
            "0E-7",
            "NaN",
            "-NaN",
            "sNaN",
            "Infinity",
            "-Infinity",
            "1E+999",
        ],
    )
    def test_decimal(self, value: str) -> None:
        """A Decimal keeps its digits, exponent and sign, never becoming a float."""
        decimal_value = decimal.Decimal(value)
        back = roundtrip(decimal_value)
        assert type(back) is decimal.Decimal
        assert back.as_tuple() == decimal_value.as_tuple()
        if not decimal_value.is_snan():  # a signalling NaN cannot be hashed
            _check(decimal_value)

    @pytest.mark.parametrize(
        "value",
        [
            complex(1, 2),
            complex(-0.0, -0.0),
            complex(math.nan, math.inf),
            complex(1e300, -1e-300),
            1j,
        ],
    )
    def test_complex(self, value: complex) -> None:
        """Complex numbers keep both parts, signed zeros and non-finite parts too."""
        _check(value)

    @pytest.mark.parametrize("value", ["1/3", "-7/2", "0", "10/1"])
    def test_fraction(self, value: str) -> None:
        """Fractions round-trip exactly."""
        _check(fractions.Fraction(value))


class TestContainers:
    def test_tuple_is_not_a_list(self) -> None:
        """A tuple comes back as a tuple, and a list inside it as a FrozenList."""
        back = roundtrip((1, [2, (3,)], ()))
        assert_same(back, (1, FrozenList([2, (3,)]), ()))

    def test_named_tuples_keep_their_class(self) -> None:
        """Named tuples (typed and collections') keep their class and items."""
        _check(Pair(1, "a"))
        _check(Point3(1, 2, 3))
        assert codec.registered("tests.Pair") is Pair

    def test_sets(self) -> None:
        """A set comes back as a FrozenSet, a frozenset as a frozenset."""
        assert type(roundtrip({1, 2})) is FrozenSet
        assert type(roundtrip(FrozenSet([1, 2]))) is FrozenSet
        assert type(roundtrip(frozenset({1, 2}))) is frozenset
        _check(frozenset({1, "a", (2, 3), frozenset({4})}))
        _check(set())

    def test_non_string_keys(self) -> None:
        """Keys 1 and "1" stay apart; tuple, None, float and date keys survive."""
        value = {1: "int", "1": "str", (1, 2): "tuple", None: "none", 1.5: "float"}
        value[datetime.date(2024, 1, 1)] = "date"
        back = roundtrip(value)
        assert_same(back, freeze(value))
        assert codec.to_json(value)["$t"] == "dict"

    def test_dict_with_a_tag_key(self) -> None:
        """A dict whose own keys look like a tag is not mistaken for one."""
        for value in ({"$t": "tuple", "v": [1]}, {"$t": 5}, {"$t": "x", "y": 1}):
            assert_same(roundtrip(value), freeze(value))

    def test_frozen_containers_encode_like_plain_ones(self) -> None:
        """FrozenDict, FrozenList and FrozenSet are stored as dict, list and set."""
        plain = {"a": [1, 2], "s": {3}}
        assert codec.dumps(freeze(plain)) == codec.dumps(plain)

    def test_large_containers(self) -> None:
        """Maps and lists past the small-size layouts round-trip too."""
        value = freeze({f"k{i}": list(range(i % 40)) for i in range(300)})
        value = value.set(7, {i: str(i) for i in range(50)})
        assert_same(roundtrip(value), value)

    def test_equal_sets_give_equal_bytes(self) -> None:
        """Sets are written in a canonical order; int-keyed dicts in their own
        order, which is kept (issue 10)."""
        a = freeze({"s": set(range(100)), "m": {i: i for i in range(100)}})
        b = freeze(
            {"s": set(range(99, -1, -1)), "m": dict(reversed(list(a["m"].items())))}
        )
        assert codec.dumps(a["s"]) == codec.dumps(b["s"])
        assert codec.dumps(a) != codec.dumps(b)
        assert list(codec.loads(codec.dumps(b))["m"]) == list(range(99, -1, -1))
        mixed = {1, "a", (1,), 2.5, None}
        assert codec.dumps(mixed) == codec.dumps(set(sorted(mixed, key=repr)))  # noqa: C414


class TestOtherScalars:
    @pytest.mark.parametrize(
        "value",
        [b"", b"\x00\xff" * 10, bytearray(b"abc"), bytearray()],
        ids=repr,
    )
    def test_bytes(self, value: bytes | bytearray) -> None:
        """bytes and bytearray round-trip as themselves (base64 in the JSON)."""
        assert _check(value) == value

    def test_uuid(self) -> None:
        """UUIDs round-trip."""
        _check(uuid.UUID("12345678-1234-5678-1234-567812345678"))

    @pytest.mark.parametrize(
        "value",
        [
            pathlib.PurePosixPath("/a/b"),
            pathlib.PureWindowsPath(r"C:\a\b"),
            pathlib.Path("rel/x"),
            pathlib.PurePosixPath(),
        ],
        ids=repr,
    )
    def test_paths(self, value: pathlib.PurePath) -> None:
        """Each pathlib class keeps its class."""
        _check(value)

    def test_enum_members(self) -> None:
        """Enum members (flags too) come back as the very members."""
        assert roundtrip(Color.GREEN) is Color.GREEN
        assert roundtrip(Perm.R | Perm.W) == Perm.R | Perm.W
        _check(Color.RED)
        assert codec.to_json(Color.RED) == {
            "$t": "tests.storage.codec_helpers.Color",
            "v": "red",
        }


class TestDatetimes:
    @pytest.mark.parametrize(
        "offset",
        [
            datetime.timedelta(microseconds=500),
            datetime.timedelta(microseconds=-500),
            datetime.timedelta(seconds=-1, microseconds=1),
            datetime.timedelta(hours=-1, microseconds=500),
            datetime.timedelta(hours=23, minutes=59, seconds=59, microseconds=999999),
        ],
    )
    @pytest.mark.parametrize("name", [None, "N"])
    def test_sub_second_utc_offsets(
        self, offset: datetime.timedelta, name: str | None
    ) -> None:
        """A UTC offset with microseconds comes back exactly, not as UTC (issue 9,
        defect 11: Python 3.11's fromisoformat drops an offset under a second)."""
        tz = (
            datetime.timezone(offset)
            if name is None
            else datetime.timezone(offset, name)
        )
        for value in (
            datetime.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=tz),
            datetime.time(3, 4, 5, 6, tzinfo=tz),
        ):
            back = roundtrip(value)
            assert repr(back) == repr(value)
            assert back.utcoffset() == offset

    @pytest.mark.parametrize(
        "value",
        [
            datetime.datetime(2024, 1, 2, 3, 4, 5, 678901),
            datetime.datetime(1, 1, 1),
            datetime.datetime(9999, 12, 31, 23, 59, 59, 999999),
            datetime.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=datetime.UTC),
            datetime.datetime(
                2024, 1, 2, tzinfo=datetime.timezone(datetime.timedelta(hours=-5))
            ),
            datetime.datetime(
                2024,
                1,
                2,
                tzinfo=datetime.timezone(
                    datetime.timedelta(seconds=3601, microseconds=7)
                ),
            ),
            datetime.datetime(2024, 7, 1, 12, tzinfo=PARIS),
            datetime.datetime(2024, 1, 1, 12, 0, 0, 1, tzinfo=NEW_YORK),
        ],
        ids=repr,
    )
    def test_datetime(self, value: datetime.datetime) -> None:
        """Naive and aware datetimes keep microseconds, offset and zone."""
        _check(value)

    def test_zone_name_is_kept(self) -> None:
        """A zoneinfo zone comes back as the same zone, not just its offset."""
        back = roundtrip(datetime.datetime(2024, 7, 1, 12, tzinfo=PARIS))
        assert back.tzinfo is PARIS
        assert back + datetime.timedelta(days=180) == datetime.datetime(
            2024, 12, 28, 12, tzinfo=PARIS
        )

    def test_ambiguous_time_keeps_its_fold(self) -> None:
        """Both readings of a wall time that occurs twice stay apart."""
        first = datetime.datetime(2024, 10, 27, 2, 30, tzinfo=PARIS)
        second = first.replace(fold=1)
        assert roundtrip(second).fold == 1
        assert roundtrip(second).utcoffset() == datetime.timedelta(hours=1)
        assert roundtrip(first).utcoffset() == datetime.timedelta(hours=2)

    @pytest.mark.parametrize(
        "value",
        [
            datetime.datetime(2024, 10, 27, 2, 30, fold=1),
            datetime.datetime(2024, 1, 1, fold=1, tzinfo=datetime.UTC),
            datetime.time(2, 30, fold=1),
            datetime.time(2, 30, fold=1, tzinfo=PARIS),
            datetime.time(2, 30, fold=1, tzinfo=datetime.UTC),
        ],
        ids=repr,
    )
    def test_fold_round_trips_where_no_offset_tells_it(self, value: Any) -> None:
        """fold=1 on a naive datetime or a time (which == ignores) comes back:
        it used to be lost. Marked "[fold=1]" after the ISO text."""
        assert "[fold=1]" in codec.to_json(value)["v"]
        back = roundtrip(value)
        assert (back, back.fold, back.tzinfo) == (value, 1, value.tzinfo)
        assert roundtrip(value.replace(fold=0)).fold == 0

    def test_values_stored_before_the_fold_marker_read_as_before(self) -> None:
        """The marker sits where no stored value had anything (right after the
        ISO text): a zone name that ends like it is still a zone name."""
        stored = {"$t": "datetime", "v": "2024-01-01T00:00:00+01:00[tzname=x][fold=1]"}
        back = codec.from_json(stored)
        assert (back.tzname(), back.fold) == ("x][fold=1", 0)
        plain = codec.from_json({"$t": "time", "v": "02:30:00[Europe/Paris]"})
        assert (plain.fold, plain.tzinfo) == (0, PARIS)

    def test_nonexistent_time_keeps_its_wall_time(self) -> None:
        """A wall time skipped by a DST change comes back as it was written."""
        for fold in (0, 1):
            gap = datetime.datetime(2024, 3, 31, 2, 30, tzinfo=PARIS, fold=fold)
            back = roundtrip(gap)
            assert (back.hour, back.minute) == (2, 30)
            assert back.utcoffset() == gap.utcoffset()
            assert back.fold == fold

    def test_named_fixed_offset(self) -> None:
        """A datetime.timezone with its own name keeps the name."""
        cet = datetime.timezone(datetime.timedelta(hours=1), "CET]x[")
        back = roundtrip(datetime.datetime(2024, 1, 1, tzinfo=cet))
        assert back.tzname() == "CET]x["
        _check(datetime.time(1, 2, tzinfo=cet))

    def test_utc_stays_the_utc_singleton(self) -> None:
        """UTC comes back as datetime.timezone.utc."""
        back = roundtrip(datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC))
        assert back.tzinfo is datetime.UTC

    @pytest.mark.parametrize(
        "value",
        [
            datetime.time(0, 0),
            datetime.time(23, 59, 59, 999999),
            datetime.time(1, 2, tzinfo=datetime.timezone(datetime.timedelta(hours=3))),
            datetime.time(1, 2, tzinfo=PARIS),
        ],
        ids=repr,
    )
    def test_time(self, value: datetime.time) -> None:
        """Times keep microseconds and their time zone."""
        _check(value)

    @pytest.mark.parametrize(
        "value",
        [
            datetime.date(2024, 2, 29),
            datetime.date(1, 1, 1),
            datetime.timedelta(0),
            datetime.timedelta(days=-1, seconds=5, microseconds=6),
            datetime.timedelta.max,
            datetime.timedelta.min,
        ],
        ids=repr,
    )
    def test_date_and_timedelta(self, value: Any) -> None:
        """Dates and timedeltas round-trip."""
        _check(value)

    def test_other_tzinfo_is_refused(self) -> None:
        """A tzinfo the codec cannot name is refused, not flattened to an offset."""

        class Odd(datetime.tzinfo):
            def utcoffset(self, dt: datetime.datetime | None) -> datetime.timedelta:
                return datetime.timedelta(hours=1)

            def dst(self, dt: datetime.datetime | None) -> datetime.timedelta:
                return datetime.timedelta(0)

            def tzname(self, dt: datetime.datetime | None) -> str:
                return "Odd"

        with pytest.raises(CodecError, match=r"value\['t'\].*zoneinfo"):
            codec.dumps({"t": datetime.datetime(2024, 1, 1, tzinfo=Odd())})


class TestRegisteredClasses:
    def test_dataclasses_frozen_and_not(self) -> None:
        """Registered dataclasses round-trip, their fields encoded recursively."""
        _check(FrozenPoint(1, 2))
        box = Box([1, (2, {3}), {"k": decimal.Decimal("1.5")}], {1: [b"x"]})
        back = _check(box)
        assert_same(back, box)
        assert back.size == 3  # computed again by __post_init__

    def test_boxed_objects_in_frozen_trees(self) -> None:
        """Objects kept in Opaque boxes are stored as themselves and boxed again."""
        tree = freeze({"box": Box([1])})
        assert type(tree._raw("box")) is Opaque
        back = roundtrip(tree)
        assert type(back._raw("box")) is Opaque
        assert back["box"] == Box([1])
        assert back["box"] is not back["box"]  # each read is a copy, as before

    def test_pydantic_models(self) -> None:
        """Registered Pydantic models round-trip through model_dump/model_validate."""
        model = Model(
            name="x",
            when=datetime.datetime(2024, 1, 1, tzinfo=PARIS),
            tags=("a", "b"),
            price=decimal.Decimal("9.99"),
        )
        back = _check(model)
        assert back == model
        assert type(back.price) is decimal.Decimal

    def test_register_as_decorator_with_functions(self) -> None:
        """A class with encode/decode functions is stored as they say."""

        @dataclasses.dataclass(frozen=True)
        class Money:
            cents: int
            currency: str

        returned = codec.register(
            Money,
            name="app.Money",
            encode=lambda m: f"{m.cents} {m.currency}",
            decode=lambda s: Money(int(s.split()[0]), s.split()[1]),
        )
        assert returned is Money
        assert codec.to_json(Money(150, "EUR")) == {"$t": "app.Money", "v": "150 EUR"}
        _check(Money(150, "EUR"))
        assert codec.registered("app.Money") is Money

    def test_decorator_form(self) -> None:
        """@register works on a class and returns it unchanged."""

        @codec.register
        class Level(enum.IntEnum):
            LOW = 1

        assert Level.__name__ == "Level"
        assert roundtrip(Level.LOW) is Level.LOW
        assert codec.registered(f"{__name__}.{Level.__qualname__}") is Level

    def test_decode_gets_plain_values(self) -> None:
        """decode receives plain dicts, lists and sets, not frozen ones."""
        seen: list[Any] = []

        class Bag:
            def __init__(self, items: list[Any]) -> None:
                self.items = items

            def __eq__(self, other: object) -> bool:
                return isinstance(other, Bag) and self.items == other.items

            __hash__ = None  # type: ignore[assignment]

        def decode(data: Any) -> Bag:
            seen.append(data)
            return Bag(data)

        codec.register(Bag, encode=lambda b: b.items, decode=decode)
        assert roundtrip(Bag([{"a": {1}}])) == Bag([{"a": {1}}])
        assert type(seen[0]) is list
        assert type(seen[0][0]) is dict
        assert type(seen[0][0]["a"]) is set

    def test_unknown_tag_is_a_codec_error(self) -> None:
        """A tag naming a class not registered here is a CodecError naming it."""
        data = codec.dumps({"p": FrozenPoint(1, 2)})
        _codec_registry._reset()
        with pytest.raises(CodecError, match="no class is registered") as info:
            codec.loads(data)
        assert isinstance(info.value, TypeError)
        assert "tests.storage.codec_helpers.FrozenPoint" in str(info.value)

    def test_a_tag_never_imports_a_module(self) -> None:
        """A tag naming a module's class does not import that module."""
        assert "antigravity" not in sys.modules
        with pytest.raises(CodecError):
            codec.loads(b'{"$t":"antigravity.fly","v":1}')
        assert "antigravity" not in sys.modules

    def test_name_collisions_are_refused(self) -> None:
        """A name is one class's, a class has one name, built-in tags are reserved."""

        @dataclasses.dataclass
        class A:
            x: int

        @dataclasses.dataclass
        class B:
            x: int

        codec.register(A, name="app.Thing")
        codec.register(A, name="app.Thing")  # the same again is fine
        with pytest.raises(ValueError, match="already registered for"):
            codec.register(B, name="app.Thing")
        with pytest.raises(ValueError, match="already registered as"):
            codec.register(A, name="app.Other")
        with pytest.raises(ValueError, match="built-in tag"):
            codec.register(B, name="tuple")
        with pytest.raises(ValueError, match="built-in encoding"):
            codec.register(tuple, encode=list, decode=tuple)
        assert codec.registered("app.Thing") is A

    def test_bad_registrations(self) -> None:
        """Plain classes need both functions; non-classes are refused."""

        class Plain:
            pass

        with pytest.raises(TypeError, match="encode= and decode="):
            codec.register(Plain)
        with pytest.raises(TypeError, match="both"):
            codec.register(Plain, encode=str)
        with pytest.raises(TypeError, match="takes a class"):
            codec.register(Plain(), encode=str, decode=str)  # type: ignore[arg-type]

    def test_subclasses_are_not_covered(self) -> None:
        """Only the registered class itself is stored, not its subclasses."""

        @dataclasses.dataclass(frozen=True)
        class Sub(FrozenPoint):
            pass

        with pytest.raises(CodecError, match="Sub"):
            codec.dumps(Sub(1, 2))

    def test_named_tuples_register_themselves(self) -> None:
        """A named tuple is registered under its default name when first stored."""
        Local = namedtuple("Local", "a b")
        name = f"{__name__}.Local"
        assert codec.registered(name) is None
        _check(Local(1, [2]))
        assert codec.registered(name) is Local
        codec.register(Local, name="app.Local")  # an explicit name replaces it
        assert codec.registered(name) is None
        assert codec.to_json(Local(1, 2))["$t"] == "app.Local"

    def test_named_tuple_name_clash(self) -> None:
        """Two named tuple classes with one default name: the second is refused."""
        twins: list[Any] = [namedtuple("Twin", "a") for _ in range(2)]
        codec.dumps(twins[0](1))
        with pytest.raises(CodecError, match="already registered"):
            codec.dumps(twins[1](1))

    def test_failing_decode_is_corrupt_history(self) -> None:
        """Stored data the registered decoder rejects is corrupt history."""
        with pytest.raises(CorruptHistoryError, match="FrozenPoint"):
            codec.loads(b'{"$t":"tests.storage.codec_helpers.FrozenPoint","v":{"x":1}}')
        with pytest.raises(CorruptHistoryError):
            codec.loads(b'{"$t":"tests.storage.codec_helpers.Color","v":"blue"}')
        with pytest.raises(CorruptHistoryError):
            codec.loads(b'{"$t":"tests.Pair","v":{"left":1}}')


class TestRefusals:
    def test_unregistered_class(self) -> None:
        """An unregistered object is refused with its class, path and the fix."""

        class Widget:
            pass

        with pytest.raises(CodecError) as info:
            codec.to_json({"a": [1, {"w": Widget()}]})
        message = str(info.value)
        assert "value['a'][1]['w']" in message
        assert "Widget" in message
        assert "statetrail.storage.codec.register(" in message
        assert isinstance(info.value, TypeError)
        assert isinstance(info.value, StatetrailError)

    def test_unregistered_dataclass_enum_and_model(self) -> None:
        """Dataclasses, enums and models must be registered before they are stored."""
        _codec_registry._reset()
        for value in (
            FrozenPoint(1, 2),
            Color.RED,
            Model(name="x", when=datetime.datetime(2024, 1, 1)),
        ):
            with pytest.raises(CodecError, match=type(value).__qualname__):
                codec.dumps([value])

    @pytest.mark.parametrize(
        ("value", "where"),
        [
            ("\ud800", "value"),
            (["ok", "a\udfffb"], "value[1]"),
            ({"k": {"\udc80": 1}}, "value['k']['\\udc80']"),
            ({1: "\ud800"}, "value[1]"),
            ({"\ud800"}, "value{'\\ud800'}"),
            (pathlib.PurePosixPath("/tmp/\udcff"), "value"),
        ],
        ids=repr,
    )
    def test_lone_surrogates(self, value: Any, where: str) -> None:
        """Strings UTF-8 cannot encode are refused at encode time, with the path."""
        with pytest.raises(CodecError, match="lone surrogate") as info:
            codec.to_json(value)
        assert f"cannot store {where}:" in str(info.value)
        assert isinstance(info.value, ValueError)

    def test_too_many_digits(self) -> None:
        """An integer of 4,301 or 5,000 digits is refused, not written."""
        for value in (10**4300, -(10**4300), 10**4999, 1 << 20_000):
            with pytest.raises(CodecError, match="4,300 digits"):
                codec.to_json({"n": value})

    def test_deepest_value_round_trips(self) -> None:
        """A value exactly MAX_DEPTH JSON levels deep is stored and read back.

        Plain values stop at MAX_NESTING (checked as every front end does);
        frozen values nest past it only when built from frozen parts, and the
        codec's own count of JSON levels bounds those."""
        frozen: Any = FrozenList()
        for _ in range(codec.MAX_DEPTH - 1):
            frozen = FrozenList([frozen])
        assert_same(roundtrip(frozen), frozen)
        tuples: Any = ()
        for _ in range(codec.MAX_DEPTH // 2 - 1):
            tuples = (tuples,)
        assert_same(roundtrip(tuples), tuples)

    @pytest.mark.parametrize("depth", [codec.MAX_DEPTH + 1, 10_000])
    def test_too_deep(self, depth: int) -> None:
        """Deeper values are a NestingError (a ValueError), never a RecursionError:
        the one error every front end raises for them."""
        value: Any = []
        for _ in range(depth - 1):
            value = [value]
        with pytest.raises(NestingError, match="nested too deeply"):
            codec.to_json(value)
        tagged: Any = 1
        for _ in range(depth):
            tagged = (tagged,)
        with pytest.raises(NestingError, match="nested too deeply"):
            codec.dumps(tagged)

    def test_self_reference(self) -> None:
        """A value containing itself is a NestingError at once."""
        looped: dict[str, Any] = {}
        looped["a"] = [looped]
        with pytest.raises(NestingError, match="contains itself"):
            codec.dumps(looped)

    def test_nothing_is_written_on_refusal(self, tmp_path: pathlib.Path) -> None:
        """A refused value raises before the caller has bytes to write."""
        target = tmp_path / "out.json"
        with target.open("wb") as f, pytest.raises(CodecError):
            f.write(codec.dumps({"ok": list(range(100)), "bad": object()}))
        assert target.read_bytes() == b""

    def test_failing_encode_function(self) -> None:
        """An encode function that raises is reported as a CodecError."""

        class Flaky:
            pass

        codec.register(Flaky, encode=lambda _: 1 / 0, decode=lambda _: Flaky())
        with pytest.raises(CodecError, match="ZeroDivisionError"):
            codec.dumps([Flaky()])


class _Exploit:
    """Unpickling this would create the marker file."""

    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (pathlib.Path.touch, (self.marker,))


@dataclasses.dataclass
class _Unregistered:
    x: int


class TestPickle:
    def test_pickle_is_only_written_on_request(self) -> None:
        """Without allow_pickle an unregistered object is refused, with it pickled."""
        with pytest.raises(CodecError):
            codec.dumps(_Unregistered(1))
        tree = codec.to_json({"u": _Unregistered(1)}, allow_pickle=True)
        assert tree["u"]["$t"] == "pickle"

    def test_opt_in_round_trip(self) -> None:
        """With allow_pickle on both sides the object comes back."""
        data = codec.dumps({"u": _Unregistered(1)}, allow_pickle=True)
        back = codec.loads(data, allow_pickle=True)
        assert back["u"] == _Unregistered(1)
        assert type(back._raw("u")) is Opaque

    def test_pickle_is_refused_by_default(self) -> None:
        """Reading pickle without opting in is CorruptHistoryError saying how."""
        data = codec.dumps({"u": _Unregistered(1)}, allow_pickle=True)
        with pytest.raises(CorruptHistoryError, match="allow_pickle=True"):
            codec.loads(data)
        with pytest.raises(CorruptHistoryError, match="pickled"):
            codec.from_json(codec.to_json([_Unregistered(1)], allow_pickle=True))

    def test_malicious_pickle_never_runs(self, tmp_path: pathlib.Path) -> None:
        """A payload whose __reduce__ creates a file is never unpickled by default."""
        marker = tmp_path / "pwned"
        payload = pickle.dumps(_Exploit(marker))
        import base64

        tag = {"$t": "pickle", "v": base64.b64encode(payload).decode()}
        documents = [
            codec.canonical(tag),
            codec.canonical({"a": [1, {"b": tag}]}),
            codec.canonical({"$t": "tuple", "v": [tag]}),
            codec.canonical({"$t": "dict", "v": [tag, 1]}),
            codec.canonical({"$t": "tests.Pair", "v": [tag, tag]}),
        ]
        for document in documents:
            with pytest.raises(CorruptHistoryError):
                codec.loads(document)
            with pytest.raises(CorruptHistoryError):
                codec.changes_from_json([["+", ["a"], codec.parse(document)]])
        with pytest.raises(CorruptHistoryError):
            codec.changes_from_json([["-", [tag]]])
        assert not marker.exists()
        # Opting in does run it: the test above is not vacuous.
        codec.loads(documents[0], allow_pickle=True)
        assert marker.exists()


class TestPatches:
    def _apply(self, start: Any, changes: list[Change]) -> Any:
        return apply_changes(start, changes)  # the old values are not stored

    def test_add_remove_replace(self) -> None:
        """Each kind of change maps to its op, and back."""
        changes = [
            Change(("a", "b"), 1, 2),
            Change(("list", 0), MISSING, {"x": (1, 2)}),
            Change(("gone",), 5, MISSING),
            Change((3, "k"), "old", {1, 2}),
            Change(((1, 2), datetime.date(2024, 1, 1)), MISSING, math.nan),
        ]
        ops = codec.changes_to_json(changes)
        assert ops[:3] == [
            ["=", ["a", "b"], 2],
            ["+", ["list", 0], {"x": {"$t": "tuple", "v": [1, 2]}}],
            ["-", ["gone"]],
        ]
        assert ops[4][1][0] == {"$t": "tuple", "v": [1, 2]}
        back = codec.changes_from_json(codec.parse(codec.canonical(ops)))
        kinds = ["replace", "add", "remove", "replace", "add"]
        assert [c.kind for c in back] == kinds
        assert back[2].new is MISSING
        # Old values are not stored: an addition's is MISSING, the others' UNSTORED.
        assert [c.old for c in back] == [UNSTORED, MISSING, UNSTORED, UNSTORED, MISSING]
        for got, change in zip(back, changes, strict=True):
            assert_same(got.path, change.path)
            if got.kind != "remove":
                assert_same(got.new, freeze(change.new))

    def test_round_trip_applies_at_nested_paths(self) -> None:
        """Replaying the decoded patch of a diff turns the old value into the new."""
        a = freeze({"d": {1: {"x": [1, 2, 3]}, "s": "k"}, "l": [{"a": 1}, 2]})
        b = freeze({"d": {1: {"x": [1, 3, 4]}, 2: (5,)}, "l": [{"a": 2}, 2, 9]})
        ops = codec.changes_from_json(
            codec.parse(codec.canonical(codec.changes_to_json(diff(a, b))))
        )
        assert_same(self._apply(a, ops), b)

    @given(a=trees(key_strategy=keys), b=trees(key_strategy=keys))
    @settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
    def test_any_diff_round_trips(self, a: Any, b: Any) -> None:
        """For random trees with int and str keys, the stored patch is the diff's
        changes exactly (ops, key and value types), and replays to the new tree."""
        a, b = freeze(a), freeze(b)
        changes = diff(a, b)
        data = codec.canonical(codec.changes_to_json(changes))
        ops = codec.changes_from_json(codec.parse(data))
        assert len(ops) == len(changes)
        for got, change in zip(ops, changes, strict=True):
            assert got.kind == change.kind
            assert_same(got.path, change.path)
            if got.kind != "remove":
                assert_same(got.new, change.new)
        # The engine's diff treats False and 0 in lists as equal; == is its measure.
        assert self._apply(a, ops) == b

    @pytest.mark.parametrize(
        "data",
        [
            {"op": "="},
            [["="]],
            [["=", ["a"]]],
            [["-", ["a"], 1]],
            [["?", ["a"], 1]],
            [[1, ["a"], 1]],
            [["=", "a", 1]],
            [["+", [{"$t": "tests.storage.codec_helpers.Box", "v": {"items": []}}], 1]],
            [["+", [{"$t": "float", "v": "x"}], 1]],
            [[]],
            ["="],
        ],
        ids=repr,
    )
    def test_malformed_patches(self, data: Any) -> None:
        """A malformed patch is CorruptHistoryError."""
        with pytest.raises(CorruptHistoryError):
            codec.changes_from_json(data)

    def test_unstorable_change_names_it(self) -> None:
        """An unstorable new value is refused with the change's path."""
        with pytest.raises(CodecError, match=r"change 1 at \('b', 0\)"):
            codec.changes_to_json([Change(("a",), 1, 2), Change(("b", 0), 1, object())])


class TestProperties:
    @given(value=values)
    @settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
    def test_round_trip_keeps_types(self, value: Any) -> None:
        """loads(dumps(x)) equals x with identical types all the way down."""
        data = codec.dumps(value)
        back = codec.loads(data)
        assert_same(back, value)
        assert codec.dumps(back) == data  # canonical: equal values, equal bytes

    @given(value=_plain_trees)
    @settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
    def test_plain_json_is_untagged(self, value: Any) -> None:
        """Trees of plain JSON values are their own JSON form."""
        assert_same(codec.to_json(value), value)
        assert_same(codec.from_json(value), freeze(value))
