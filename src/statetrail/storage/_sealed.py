"""Sealed values: a value's JSON stored compressed or encrypted, under a tag.

A *seal* is a codec-level transform (``statetrail.interceptors.Encrypt`` and
``Compress``). It works value by value, as values go to storage or to a stream:
a whole value or a patch's new value, encoded by the codec, becomes
``{"$t": TAG, "v": TEXT}`` with TEXT the sealed bytes of its canonical JSON. In
memory nothing is sealed: validators, schemas, diff, merge and blame see plain
values. Seals chain: ``Compress`` then ``Encrypt`` stores
``{"$t": "enc", "v": <the token of {"$t": "zlib", "v": ...}>}``.

Reading needs no plumbing: the decoder meets the tag and opens it here.
``zlib`` needs nothing; ``enc`` needs a key, and the keys are this process's
*keyring*: every :class:`~statetrail.interceptors.Encrypt` made adds its keys
(an ssh-agent, not a file), and :func:`reset_keyring` empties it (tests).
Without a key that opens it, reading raises
:class:`~statetrail.errors.DecryptionError`, never garbage (Fernet tokens are
authenticated). With :func:`placeholders` on (the CLI without ``--key-file``),
such a value reads as :data:`ENCRYPTED`, shown ``<encrypted>``.
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
import threading
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence, Set
from typing import Any, Final

import orjson

from statetrail.errors import CorruptHistoryError, DecryptionError

__all__ = [
    "ENCRYPTED",
    "ENC_TAG",
    "MAX_OPENED",
    "SEAL_TAGS",
    "ZLIB_TAG",
    "Seal",
    "add_keys",
    "contains_placeholder",
    "inflate",
    "open_sealed",
    "placeholders",
    "reset_keyring",
    "seal_tree",
    "seals_of",
    "tracking",
]

ENC_TAG: Final = "enc"
ZLIB_TAG: Final = "zlib"
SEAL_TAGS: Final = frozenset({ENC_TAG, ZLIB_TAG})
#: The most bytes one sealed value opens to: a compressed value that claims
#: more is refused (a zlib bomb in a damaged or hostile file).
MAX_OPENED: Final = 1 << 30


class Seal:
    """The base of a codec-level transform; as an interceptor, it changes nothing.

    Subclasses set :attr:`tag` and implement :meth:`seal`. A front end given one
    in ``interceptors=`` keeps values plain in memory; its storage, ``save``,
    ``export`` and stream entries hold them sealed.
    """

    tag: str = ""

    def __call__(self, value: Any) -> Any:
        """In memory, a value stays as it is."""
        return value

    def seal(self, data: bytes) -> str | None:
        """``data`` (canonical JSON) sealed, as text; ``None``: leave it plain."""
        raise NotImplementedError

    def decrypt(self, token: str) -> bytes:
        """The bytes an ``enc`` token holds (keyring members only).

        Raises:
            DecryptionError: No key of this seal opens ``token``.
        """
        raise DecryptionError(f"{self!r} opens nothing")


def seals_of(interceptors: Iterable[Any]) -> tuple[Seal, ...]:
    """The seals among a timeline's interceptors, in order."""
    return tuple(fn for fn in interceptors if isinstance(fn, Seal))


def seal_tree(tree: Any, seals: tuple[Seal, ...]) -> Any:
    """The codec's JSON ``tree`` of one value, passed through each of ``seals``."""
    for seal in seals:
        data = orjson.dumps(tree)
        text = seal.seal(data)
        if text is not None:
            tree = {"$t": seal.tag, "v": text}
    return tree


# -- reading -----------------------------------------------------------------------


class _Encrypted:
    """What an encrypted value reads as with placeholders on and no key."""

    _instance: _Encrypted | None = None

    def __new__(cls) -> _Encrypted:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<encrypted>"

    __str__ = __repr__


#: An encrypted value read without its key, with :func:`placeholders` on.
ENCRYPTED: Final = _Encrypted()

#: With :func:`placeholders` on, a one-item list: how many placeholders were
#: made in the block (none made, none to look for: see contains_placeholder).
_SHOW: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "statetrail_sealed_placeholders", default=None
)
_OPENED: contextvars.ContextVar[list[Seal] | None] = contextvars.ContextVar(
    "statetrail_sealed_opened", default=None
)
# Global state department: every Encrypt made in this process (its keys).
_keyring: list[Seal] = []
_keyring_lock = threading.Lock()


def add_keys(seal: Seal) -> None:
    """Let this process open ``enc`` values with ``seal``'s keys (an Encrypt)."""
    with _keyring_lock:
        if seal not in _keyring:
            _keyring.append(seal)


@contextlib.contextmanager
def tracking() -> Iterator[list[Seal]]:
    """Within the block, the list gets each keyring seal that opened a value.

    For code that writes what it read back to storage (a trim's checkpoints):
    what was encrypted when read is encrypted again when written.
    """
    opened: list[Seal] = []
    token = _OPENED.set(opened)
    try:
        yield opened
    finally:
        _OPENED.reset(token)


def reset_keyring() -> None:
    """Forget every key added (for tests)."""
    with _keyring_lock:
        _keyring.clear()


@contextlib.contextmanager
def placeholders() -> Iterator[None]:
    """Within the block, an ``enc`` value no key opens reads as :data:`ENCRYPTED`."""
    token = _SHOW.set([0])
    try:
        yield
    finally:
        _SHOW.reset(token)


def contains_placeholder(value: Any) -> bool:
    """Whether ``value`` holds :data:`ENCRYPTED` (only ever with placeholders on).

    Free until a placeholder was made in the block: ``verify`` asks it of every
    revision's value, and a walk of a 1,000-entry value took 56 ms a row
    (issue 11).
    """
    made = _SHOW.get()
    if not made or not made[0]:
        return False
    stack = [value]
    while stack:
        item = stack.pop()
        if item is ENCRYPTED:
            return True
        if isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list | tuple | Set | Sequence) and not isinstance(
            item, str | bytes | bytearray
        ):
            stack.extend(item)
    return False


def open_sealed(tag: str, text: Any) -> Any:
    """The JSON tree a sealed value holds, or :data:`ENCRYPTED` (see above).

    Raises:
        DecryptionError: No key in the keyring opens an ``enc`` value.
        CorruptHistoryError: The sealed text is malformed.
    """
    if type(text) is not str:
        raise CorruptHistoryError(f"a sealed {tag!r} value is text, not {text!r:.60}")
    if tag == ZLIB_TAG:
        data = inflate(text)
    else:
        opened = _decrypt(text)
        if opened is None:
            made = _SHOW.get()
            if made is not None:
                made[0] += 1
                return ENCRYPTED
            raise DecryptionError(
                "a value is encrypted and no key this process holds opens it: "
                "make statetrail.interceptors.Encrypt(key) with the key it was "
                "written with (or pass --key-file to the CLI)"
                if not _keyring
                else "a value is encrypted with a key this process does not hold "
                "(a wrong key?): pass the key it was written with to Encrypt "
                "(several keys read, for rotation)"
            )
        data = opened
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise CorruptHistoryError(f"a sealed {tag!r} value is not JSON") from exc


def _decrypt(text: str) -> bytes | None:
    with _keyring_lock:
        keys = list(_keyring)
    for seal in keys:
        try:
            data = seal.decrypt(text)
        except (DecryptionError, UnicodeEncodeError):
            continue
        opened = _OPENED.get()
        if opened is not None and seal not in opened:
            opened.append(seal)
        return data
    return None


def inflate(text: str, limit: int = MAX_OPENED) -> bytes:
    """The bytes a ``zlib`` value's text holds, at most ``limit`` of them.

    Raises:
        CorruptHistoryError: Malformed, or opening to more than ``limit`` bytes.
    """
    try:
        packed = base64.b64decode(text, validate=True)
        inflater = zlib.decompressobj()
        data = inflater.decompress(packed, limit)
    except (ValueError, zlib.error) as exc:
        raise CorruptHistoryError(f"a compressed value is malformed: {exc}") from exc
    if inflater.unconsumed_tail:
        raise CorruptHistoryError(
            f"a compressed value opens to more than {limit} bytes"
        )
    return data
