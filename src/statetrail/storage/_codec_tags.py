"""The codec's ground floor: its error, its limits, its tags, its scalar types.

A scalar JSON has no spelling for is stored as ``{"$t": TAG, "v": PAYLOAD}``. An
encoder here turns a value into its payload (a string, or a short list of
numbers); a decoder turns a payload back into the value and raises
:class:`ValueError` or :class:`TypeError` when it is malformed, which the codec
reports as corrupt history. Containers (dict, tuple, set, frozenset) and
registered classes are handled by the codec itself, since they recurse.
"""

from __future__ import annotations

import base64
import datetime
import math
import re
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeGuard, TypeVar

from statetrail.errors import StatetrailError

if TYPE_CHECKING:
    import decimal
    import fractions
    import pathlib
    import uuid
    import zoneinfo

_T = TypeVar("_T", datetime.datetime, datetime.time)

__all__ = [
    "CONTAINER_TAGS",
    "MAX_DEPTH",
    "MAX_INT_DIGITS",
    "PICKLE_TAG",
    "RESERVED_TAGS",
    "SCALAR_DECODERS",
    "SCALAR_ENCODERS",
    "CodecError",
    "encode_float",
    "encode_int",
    "late_scalar",
]


class CodecError(StatetrailError, TypeError, ValueError):
    """A value the codec cannot store, or stored data naming an unregistered class.

    It is a :class:`TypeError`, as ``json.dumps`` raises for objects it cannot
    serialize, and a :class:`ValueError`, as Python raises for values out of range
    (a 5,000-digit integer, a string with a lone surrogate).
    """

    __module__ = "statetrail.storage.codec"  # its public home, for tracebacks


#: How deeply a stored value may nest, counted in JSON objects and arrays: a dict
#: or list is one level, a tagged value one more (a tuple or set is two). Deeper values
#: are refused on writing and on reading, well before Python's recursion limit;
#: documents around values (patches, records) may add up to 54 levels more, to
#: the 254 that orjson writes.
MAX_DEPTH = 200

#: The longest integer stored, in decimal digits: Python's default limit on
#: int/str conversion (https://docs.python.org/3/library/stdtypes.html#int-max-str-digits),
#: fixed here so a history written where the limit was raised still loads.
MAX_INT_DIGITS = 4300
# An integer of more bits than this has more than MAX_INT_DIGITS digits.
_MAX_INT_BITS = math.ceil(MAX_INT_DIGITS * math.log2(10)) + 1

CONTAINER_TAGS = frozenset({"dict", "tuple", "set", "frozenset"})
PICKLE_TAG = "pickle"

_INT = re.compile(rf"-?[0-9]{{1,{MAX_INT_DIGITS}}}")
_FRACTION = re.compile(
    rf"(-?[0-9]{{1,{MAX_INT_DIGITS}}})(?:/([0-9]{{1,{MAX_INT_DIGITS}}}))?"
)
_INFINITE = {"inf": math.inf, "-inf": -math.inf}


def _text(payload: Any) -> str:
    if type(payload) is not str:
        raise TypeError(f"expected a string payload, got {type(payload).__name__}")
    return payload


def encode_float(x: float) -> str:
    """The payload of a non-finite float: ``"nan"``, ``"inf"`` or ``"-inf"``."""
    if x != x:
        return "nan"
    return "inf" if x > 0 else "-inf"


def _decode_float(payload: Any) -> float:
    # Only non-finite floats are tagged; a finite one is a plain JSON number.
    text = _text(payload)
    if text == "nan":
        # A new NaN object each time, never the shared math.nan: a set or a dict
        # holds two NaNs only as two objects (NaN is not equal to itself, so only
        # identity tells them apart), and must read back as it was (issue 9,
        # defect 2: {nan, nan} made the whole timeline unreadable).
        return float("nan")
    try:
        return _INFINITE[text]
    except KeyError:
        raise ValueError(f"not a non-finite float: {payload!r}") from None


def encode_int(x: int) -> str:
    """The payload of an integer beyond 64 bits: its decimal digits.

    Raises:
        ValueError: it has more than :data:`MAX_INT_DIGITS` digits.
    """
    if x.bit_length() <= _MAX_INT_BITS:
        try:
            text = str(x)
        except ValueError:  # beyond this process's own limit
            pass
        else:
            if len(text) - (x < 0) <= MAX_INT_DIGITS:
                return text
    raise ValueError(
        f"an integer of more than {MAX_INT_DIGITS:,} digits cannot be stored "
        "(Python's int/str conversion limit); store it as bytes or split it"
    )


def _decode_int(payload: Any) -> int:
    if not _INT.fullmatch(_text(payload)):
        raise ValueError("not a decimal integer of at most 4,300 digits")
    return int(payload)


def _encode_bytes(x: bytes | bytearray) -> str:
    return base64.b64encode(x).decode("ascii")


def _decode_bytes(payload: Any) -> bytes:
    return base64.b64decode(_text(payload), validate=True)


def _decode_decimal(payload: Any) -> decimal.Decimal:
    import decimal

    try:
        return decimal.Decimal(_text(payload))
    except decimal.InvalidOperation:
        raise ValueError(f"not a decimal number: {payload[:60]!r}") from None


def _decode_fraction(payload: Any) -> fractions.Fraction:
    # Fraction() would also parse "1e999999999" by computing 10**999999999.
    match = _FRACTION.fullmatch(_text(payload))
    if match is None:
        raise ValueError("not a fraction 'n' or 'n/d'")
    numerator, denominator = match.groups()
    import fractions

    return fractions.Fraction(int(numerator), int(denominator or 1))


def _decode_timedelta(payload: Any) -> datetime.timedelta:
    if type(payload) is not list or len(payload) != 3:
        raise TypeError("expected [days, seconds, microseconds]")
    if any(type(n) is not int for n in payload):
        raise TypeError("expected three integers")
    return datetime.timedelta(*payload)


# -- time zones ----------------------------------------------------------------
#
# An aware value keeps its UTC offset in the ISO text. The zone that produced the
# offset follows in brackets, in the style of RFC 9557: "[Europe/Paris]" for a
# zoneinfo.ZoneInfo and "[tzname=CET]" for a datetime.timezone with its own name.


def _is_zone_info(tz: datetime.tzinfo | None) -> TypeGuard[zoneinfo.ZoneInfo]:
    """Whether ``tz`` is exactly a :class:`zoneinfo.ZoneInfo`.

    :mod:`zoneinfo` is imported when a zone is first read, not with the codec
    (3.7 ms of a first ``statetrail.open``, issue 11): until something imports
    it, no value can hold one.
    """
    module = sys.modules.get("zoneinfo")
    return module is not None and type(tz) is module.ZoneInfo


def _zone(key: str) -> zoneinfo.ZoneInfo:
    import zoneinfo

    return zoneinfo.ZoneInfo(key)


def _zone_suffix(tz: datetime.tzinfo | None) -> str:
    if tz is None:
        return ""
    if type(tz) is datetime.timezone:
        name = tz.tzname(None)
        default = datetime.timezone(tz.utcoffset(None)).tzname(None)
        return "" if name == default else f"[tzname={name}]"
    if _is_zone_info(tz) and tz.key is not None:
        return f"[{tz.key}]"
    raise TypeError(
        f"a time zone of type {type(tz).__qualname__} cannot be stored; use "
        "datetime.timezone or zoneinfo.ZoneInfo (with a key)"
    )


def _split_zone(payload: Any) -> tuple[str, str | None]:
    text = _text(payload)
    if not text.endswith("]"):
        return text, None
    start = text.find("[")  # the ISO part has no brackets, a zone name may
    if start < 0:
        raise ValueError("unbalanced time zone brackets")
    return text[:start], text[start + 1 : -1]


def _named_offset(offset: datetime.timedelta | None, zone: str) -> datetime.timezone:
    if offset is None:
        raise ValueError("a time zone name without an offset")
    return datetime.timezone(offset, zone.removeprefix("tzname="))


# A UTC offset with microseconds, as isoformat() writes it ("+00:00:00.000500").
_FRACTIONAL_OFFSET = re.compile(r"([+-])([0-9]{2}):([0-9]{2}):([0-9]{2})\.([0-9]{6})")


def _from_iso(cls: type[_T], iso: str) -> _T:
    """``cls.fromisoformat(iso)``, exact for a UTC offset with microseconds.

    Python 3.11 reads ``+00:00:00.000500`` as UTC: an offset under one second is
    lost without an error (issue 9, defect 11). Such an offset is parsed here.
    """
    match = _FRACTIONAL_OFFSET.search(iso)
    if match is None or match.end() != len(iso):
        return cls.fromisoformat(iso)
    sign, hours, minutes, seconds, micros = match.groups()
    offset = datetime.timedelta(
        hours=int(hours),
        minutes=int(minutes),
        seconds=int(seconds),
        microseconds=int(micros),
    )
    value = cls.fromisoformat(iso[: match.start()])
    if value.tzinfo is not None:
        raise ValueError("two UTC offsets")
    return value.replace(tzinfo=datetime.timezone(-offset if sign == "-" else offset))


# The second of two readings of a repeated wall time (fold=1), which isoformat()
# does not write: "[fold=1]" right after the ISO text, before any zone (an ISO
# text has no brackets and no zone is named "fold=1]...", so what was stored
# before reads as it did). An aware datetime in a ZoneInfo zone needs no marker:
# its UTC offset tells the readings apart.
_FOLD = "[fold=1]"


def _encode_datetime(x: datetime.datetime | datetime.time) -> str:
    fold = x.fold and not (type(x) is datetime.datetime and _is_zone_info(x.tzinfo))
    return x.isoformat() + (_FOLD if fold else "") + _zone_suffix(x.tzinfo)


def _split_fold(payload: Any) -> tuple[str, int]:
    """The payload without its fold marker, and the fold (see _FOLD)."""
    text = _text(payload)
    start = text.find("[")
    if start >= 0 and text.startswith(_FOLD, start):
        return text[:start] + text[start + len(_FOLD) :], 1
    return text, 0


def _decode_datetime(payload: Any) -> datetime.datetime:
    text, fold = _split_fold(payload)
    value = _decode_wall_time(text)
    return value.replace(fold=1) if fold else value


def _decode_wall_time(payload: Any) -> datetime.datetime:
    iso, zone = _split_zone(payload)
    value = _from_iso(datetime.datetime, iso)
    if zone is None:
        return value
    offset = value.utcoffset()
    if zone.startswith("tzname="):
        return value.replace(tzinfo=_named_offset(offset, zone))
    if offset is None:
        raise ValueError("a zone without an offset")
    tz = _zone(zone)
    local = value.replace(tzinfo=tz)
    # The stored offset tells which reading of a repeated or skipped wall time.
    if local.utcoffset() != offset:
        local = local.replace(fold=1)
        if local.utcoffset() != offset:
            # The zone's rules changed since it was written: keep the instant.
            local = value.astimezone(tz)
    return local


def _decode_time(payload: Any) -> datetime.time:
    text, fold = _split_fold(payload)
    iso, zone = _split_zone(text)
    value = _from_iso(datetime.time, iso)
    if fold:
        value = value.replace(fold=1)
    if zone is None:
        return value
    if zone.startswith("tzname="):
        return value.replace(tzinfo=_named_offset(value.utcoffset(), zone))
    if value.tzinfo is not None:
        raise ValueError("a time with both an offset and a zone")
    return value.replace(tzinfo=_zone(zone))


def _decode_uuid(payload: Any) -> uuid.UUID:
    import uuid

    return uuid.UUID(_text(payload))


def _path_decoder(cls: str, pure: str) -> Callable[[Any], pathlib.PurePath]:
    """The decoder of a path of class ``pathlib.<cls>`` (``<pure>`` elsewhere)."""

    def decode(payload: Any) -> pathlib.PurePath:
        import pathlib

        text = _text(payload)
        made: type[pathlib.PurePath] = getattr(pathlib, cls)
        try:
            return made(text)
        except NotImplementedError:
            # A WindowsPath read on POSIX (or the reverse) keeps its flavour.
            made = getattr(pathlib, pure)
            return made(text)

    return decode


#: Scalar type -> (tag, encoder). Exact types only: a subclass is not these.
SCALAR_ENCODERS: dict[type, tuple[str, Callable[[Any], Any]]] = {
    bytes: ("bytes", _encode_bytes),
    bytearray: ("bytearray", _encode_bytes),
    complex: ("complex", repr),
    datetime.datetime: ("datetime", _encode_datetime),
    datetime.date: ("date", datetime.date.isoformat),
    datetime.time: ("time", _encode_datetime),
    datetime.timedelta: (
        "timedelta",
        lambda x: [x.days, x.seconds, x.microseconds],
    ),
}

#: The scalar types of modules the codec does not import, by module: class name
#: -> (tag, encoder). pathlib (with urllib and ipaddress), decimal and fractions
#: took 7.7 ms of a first ``statetrail.open`` (issue 11). A value of one exists
#: only once its module is imported, so each module's types join
#: ``SCALAR_ENCODERS`` when met: those imported already now, the others by
#: :func:`late_scalar`, which the encoder's path for other types calls first (as
#: ``statetrail.frozen`` does for the immutable types).
_LATER: dict[str, dict[str, tuple[str, Callable[[Any], Any]]]] = {
    "decimal": {"Decimal": ("decimal", str)},
    "fractions": {"Fraction": ("fraction", str)},
    "uuid": {"UUID": ("uuid", str)},
    "pathlib": {
        "PurePosixPath": ("pureposixpath", str),
        "PureWindowsPath": ("purewindowspath", str),
        "PosixPath": ("posixpath", str),
        "WindowsPath": ("windowspath", str),
    },
}
_later_lock = threading.Lock()


def _add_imported() -> None:
    with _later_lock:
        for name, classes in list(_LATER.items()):
            module = sys.modules.get(name)
            if module is None:
                continue
            found = {
                getattr(module, attr, None): entry for attr, entry in classes.items()
            }
            if all(isinstance(t, type) for t in found):  # not half imported
                SCALAR_ENCODERS.update(found)  # type: ignore[arg-type]
                del _LATER[name]


_add_imported()


def late_scalar(t: type) -> bool:
    """Whether ``t`` is one of ``SCALAR_ENCODERS`` now, adding its module's.

    ``Decimal``, ``Fraction``, ``UUID`` and the ``pathlib`` paths join the table
    here when their module was imported after the codec's.
    """
    if t.__module__ in _LATER:
        _add_imported()
    return t in SCALAR_ENCODERS


#: Tag -> decoder of its payload.
SCALAR_DECODERS: dict[str, Callable[[Any], Any]] = {
    "float": _decode_float,
    "int": _decode_int,
    "bytes": _decode_bytes,
    "bytearray": lambda payload: bytearray(_decode_bytes(payload)),
    "decimal": _decode_decimal,
    "fraction": _decode_fraction,
    "complex": lambda payload: complex(_text(payload)),
    "datetime": _decode_datetime,
    "date": lambda payload: datetime.date.fromisoformat(_text(payload)),
    "time": _decode_time,
    "timedelta": _decode_timedelta,
    "uuid": _decode_uuid,
    "pureposixpath": _path_decoder("PurePosixPath", "PurePosixPath"),
    "purewindowspath": _path_decoder("PureWindowsPath", "PureWindowsPath"),
    "posixpath": _path_decoder("PosixPath", "PurePosixPath"),
    "windowspath": _path_decoder("WindowsPath", "PureWindowsPath"),
}

#: Every tag the codec itself gives meaning to: no registered class may use one.
RESERVED_TAGS = frozenset(SCALAR_DECODERS) | CONTAINER_TAGS | {PICKLE_TAG}
