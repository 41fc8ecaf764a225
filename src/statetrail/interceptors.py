"""Interceptors shipped with statetrail: :class:`Encrypt` and :class:`Compress`.

Both are *seals*: codec-level transforms that work value by value as values go
to storage or to a stream (a repository's rows and checkpoints, ``save``,
``export``, Redis stream entries), while in memory every value stays plain, so
validators, schemas, diff, merge and blame see it as written. Give them to any
front end with ``interceptors=`` (``Compress`` first, then ``Encrypt``: sealed
bytes do not compress)::

    key = Encrypt.generate_key()
    with statetrail.open("app.db") as repo:
        secrets = repo.watch("token", "s3cret", interceptors=[Encrypt(key)])

A stored value is ``{"$t": "enc", "v": "<Fernet token>"}`` and the hash chain
covers those bytes; see docs/interceptors.md for what the value digest covers,
key rotation and the CLI's ``--key-file``.

>>> import statetrail
>>> v = statetrail.Var("doc", "x" * 1000, interceptors=[Compress()])
>>> v.get() == "x" * 1000
True
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Sequence

from statetrail.errors import DecryptionError
from statetrail.storage._sealed import ENC_TAG, ZLIB_TAG, Seal, add_keys

__all__ = ["Compress", "Encrypt"]


class Encrypt(Seal):
    """Encrypt each stored value with Fernet (AES-128-CBC and HMAC-SHA256).

    Args:
        key: A Fernet key (32 url-safe base64-encoded bytes, as
            :meth:`generate_key` makes), or several: the first encrypts, all
            decrypt (``MultiFernet``), which is how keys rotate. History is
            never rewritten (the hash chain forbids it): values written with
            an old key stay readable as long as it is listed.

    Making one adds its keys to this process's keyring, so storage opened
    afterwards reads what they encrypted. Needs ``cryptography``
    (``pip install 'statetrail[crypto]'``).

    Raises:
        ValueError: A key that is not a Fernet key.
    """

    tag = ENC_TAG

    def __init__(self, key: bytes | str | Sequence[bytes | str]) -> None:
        try:
            from cryptography.fernet import Fernet, InvalidToken, MultiFernet
        except ImportError as exc:  # pragma: no cover - in the dev extra
            raise ImportError(
                "Encrypt needs cryptography: pip install 'statetrail[crypto]'"
            ) from exc
        keys = [key] if isinstance(key, bytes | str) else list(key)
        if not keys:
            raise ValueError("Encrypt needs at least one key")
        try:
            fernets = [Fernet(k) for k in keys]
        except (ValueError, TypeError):
            raise ValueError(
                "not a Fernet key (32 url-safe base64-encoded bytes; "
                "Encrypt.generate_key() makes one)"
            ) from None
        self._fernet = MultiFernet(fernets)
        self._invalid = InvalidToken
        add_keys(self)

    @staticmethod
    def generate_key() -> bytes:
        """A new random Fernet key."""
        from cryptography.fernet import Fernet

        return Fernet.generate_key()

    def seal(self, data: bytes) -> str:
        """``data`` encrypted with the first key, as a Fernet token."""
        return self._fernet.encrypt(data).decode("ascii")

    def decrypt(self, token: str) -> bytes:
        """The bytes ``token`` holds; :class:`DecryptionError` if no key opens it."""
        try:
            return self._fernet.decrypt(token.encode("ascii"))
        except self._invalid:
            raise DecryptionError("no key of this Encrypt opens the value") from None

    def __repr__(self) -> str:
        return "Encrypt(<key>)"


class Compress(Seal):
    """Compress each stored value with zlib when that makes it smaller.

    Args:
        level: zlib's level, 0 (none) to 9 (smallest); default 6.
        min_size: Values whose JSON is shorter are stored as they are.
    """

    tag = ZLIB_TAG

    def __init__(self, level: int = 6, *, min_size: int = 256) -> None:
        if isinstance(level, bool) or not isinstance(level, int):
            raise TypeError(f"a zlib level is an int, not {type(level).__name__}")
        if not 0 <= level <= 9:
            raise ValueError(f"a zlib level is 0 to 9, not {level}")
        if min_size < 0:
            raise ValueError("min_size is not negative")
        self.level = level
        self.min_size = min_size

    def seal(self, data: bytes) -> str | None:
        """``data`` compressed and base64-encoded, or ``None`` if not worth it."""
        if len(data) < self.min_size:
            return None
        packed = base64.b64encode(zlib.compress(data, self.level))
        return None if len(packed) >= len(data) else packed.decode("ascii")

    def __repr__(self) -> str:
        return f"Compress({self.level})"
