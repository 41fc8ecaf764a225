"""For the codec tests: a strict equality with types, sample classes, strategies."""

from __future__ import annotations

import collections
import dataclasses
import datetime
import decimal
import enum
import math
import pathlib
import typing
from typing import Any

import pydantic
from hypothesis import strategies as st

from statetrail.frozen import FrozenDict, FrozenList, FrozenSet, freeze
from statetrail.frozen._opaque import Opaque
from statetrail.storage import codec

# -- sample classes (registered by register_samples) ----------------------------


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Perm(enum.IntFlag):
    R = 4
    W = 2


class Pair(typing.NamedTuple):
    left: Any
    right: Any


Point3 = collections.namedtuple("Point3", "x y z")


@dataclasses.dataclass(frozen=True)
class FrozenPoint:
    x: int
    y: int


@dataclasses.dataclass
class Box:
    items: list[Any]
    meta: dict[Any, Any] = dataclasses.field(default_factory=dict)
    size: int = dataclasses.field(init=False, default=0)

    def __post_init__(self) -> None:
        self.size = len(self.items)


class Model(pydantic.BaseModel):
    name: str
    when: datetime.datetime
    tags: tuple[str, ...] = ()
    price: decimal.Decimal = decimal.Decimal("0")


def register_samples() -> None:
    """Register the sample classes (the test modules reset the registry per test)."""
    for cls in (Color, Perm, FrozenPoint, Box, Model):
        codec.register(cls)
    codec.register(Pair, name="tests.Pair")


# -- strict equality -------------------------------------------------------------


def assert_same(a: Any, b: Any, where: str = "value") -> None:
    """Assert ``a`` equals ``b`` with the same type everywhere, NaN equal to NaN."""
    # A box is how frozen trees hold other objects: compare what it holds.
    a = a.obj if type(a) is Opaque else a
    b = b.obj if type(b) is Opaque else b
    ta, tb = type(a), type(b)
    assert ta is tb, f"{where}: {ta.__qualname__} is not {tb.__qualname__}"
    if ta is float:
        assert (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b)
        ), f"{where}: {a!r} != {b!r}"
    elif ta is complex:
        assert_same(a.real, b.real, f"{where}.real")
        assert_same(a.imag, b.imag, f"{where}.imag")
    elif ta is decimal.Decimal:
        assert a.as_tuple() == b.as_tuple(), f"{where}: {a!r} != {b!r}"
    elif ta in (dict, FrozenDict):
        assert len(a) == len(b), f"{where}: {len(a)} keys != {len(b)}"
        keys_of_b = {key: key for key in b}
        for key, value in a.items():
            assert key in keys_of_b, f"{where}: key {key!r} missing"
            assert_same(key, keys_of_b[key], f"{where} key {key!r}")
            assert_same(value, b[key], f"{where}[{key!r}]")
    elif ta in (set, frozenset, FrozenSet):
        assert len(a) == len(b), f"{where}: {len(a)} members != {len(b)}"
        members_of_b = {member: member for member in b}
        for member in a:
            assert member in members_of_b, f"{where}: member {member!r} missing"
            assert_same(member, members_of_b[member], f"{where} member")
    elif ta in (list, FrozenList) or issubclass(ta, tuple):
        assert len(a) == len(b), f"{where}: length {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    elif ta in (datetime.datetime, datetime.time):
        _assert_same_time(a, b, where)
    elif dataclasses.is_dataclass(a):
        for field in dataclasses.fields(a):
            name = field.name
            assert_same(getattr(a, name), getattr(b, name), f"{where}.{name}")
    elif isinstance(a, pydantic.BaseModel):
        assert_same(a.model_dump(), b.model_dump(), where)
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def _assert_same_time(a: Any, b: Any, where: str) -> None:
    assert a.replace(tzinfo=None) == b.replace(tzinfo=None), f"{where}: {a!r} != {b!r}"
    assert type(a.tzinfo) is type(b.tzinfo), f"{where}: {a.tzinfo!r} != {b.tzinfo!r}"
    assert a.utcoffset() == b.utcoffset(), f"{where}: {a!r} != {b!r}"
    assert a.tzname() == b.tzname(), f"{where}: {a.tzname()} != {b.tzname()}"
    assert getattr(a.tzinfo, "key", None) == getattr(b.tzinfo, "key", None), where


def roundtrip(value: Any) -> Any:
    """``value`` through dumps and loads."""
    return codec.loads(codec.dumps(value))


# -- strategies --------------------------------------------------------------------

_offsets = st.timedeltas(
    min_value=datetime.timedelta(hours=-23, minutes=-59),
    max_value=datetime.timedelta(hours=23, minutes=59),
)
_fixed_zones = st.one_of(
    st.builds(datetime.timezone, _offsets),
    st.builds(datetime.timezone, _offsets, st.text(min_size=1, max_size=6)),
)
time_zones = st.one_of(st.none(), _fixed_zones, st.timezones())

#: Values that can be dict keys and set members, and compare equal to themselves.
hashable_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.binary(max_size=8),
    st.decimals(allow_nan=False),
    st.fractions(),
    st.complex_numbers(allow_nan=False),
    st.dates(),
    st.datetimes(timezones=time_zones),
    st.times(timezones=st.one_of(st.none(), _fixed_zones)),
    st.timedeltas(),
    st.uuids(),
    st.text(max_size=8).map(pathlib.PurePosixPath),
    st.text(max_size=8).map(pathlib.PureWindowsPath),
    st.sampled_from(Color),
    st.sampled_from([Perm.R, Perm.W, Perm.R | Perm.W]),
    st.builds(FrozenPoint, st.integers(), st.integers()),
)

hashables = st.recursive(
    hashable_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3).map(tuple),
        st.frozensets(children, max_size=3),
        st.builds(Pair, children, children),
    ),
    max_leaves=6,
)

scalars = st.one_of(
    hashable_scalars,
    st.floats(),  # NaN too
    st.decimals(allow_nan=True).filter(lambda d: not d.is_snan()),
    st.binary(max_size=8).map(bytearray),
    st.builds(Model, name=st.text(max_size=5), when=st.datetimes()),
)


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=4), children, max_size=4),
        st.dictionaries(hashables, children, max_size=4),
        st.lists(children, max_size=3).map(tuple),
        st.sets(hashables, max_size=4),
        st.frozensets(hashables, max_size=4),
        st.builds(Pair, children, children),
        st.builds(Box, st.lists(children, max_size=3)),
    )


#: Frozen trees mixing plain JSON with every tagged type.
values = st.recursive(scalars, _containers, max_leaves=25).map(freeze)
