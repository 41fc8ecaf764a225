"""Encrypt and Compress: values sealed at rest, in exports and stream entries.

A secret written through every write path must never appear in clear in the
SQLite file, the JSON file or the PostgreSQL rows, in a saved Var, an export or
a Redis stream entry; reading it back needs the key, and a wrong or missing key
is a DecryptionError, never garbage.
"""

from __future__ import annotations

import asyncio
import io
import pathlib
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from typing import Any

import pytest
from psycopg import sql

import statetrail
from statetrail import DecryptionError, Var
from statetrail.cli import main
from statetrail.interceptors import Compress, Encrypt
from statetrail.storage import _sealed, codec
from statetrail.storage import revision_json as schema
from statetrail.storage._stream import encode_entry
from tests.storage.pg import URL, admin

_SECRET = "SeCrEt"


@pytest.fixture(autouse=True)
def _keyring() -> Iterator[None]:
    _sealed.reset_keyring()
    yield
    _sealed.reset_keyring()


def _secret(i: int) -> str:
    return f"{_SECRET}-{i}-{uuid.uuid4().hex[:6]}"


def _write_every_path(repo: statetrail.Repository, seal: list[Any]) -> list[str]:
    """Write secrets through each front end and method; return them."""
    secrets = [_secret(i) for i in range(12)]
    v = repo.watch("var", {"a": secrets[0], "xs": [1]}, interceptors=seal)
    v.set({"a": secrets[1], "xs": [2]})
    v.set_in("a", secrets[2])
    v.set_in(("xs", 0), secrets[3])
    v.update(lambda s: {**s, "b": secrets[4]})
    with v.edit() as draft:
        draft["c"] = secrets[5]
    asyncio.run(v.set_async({"a": secrets[6]}))
    store = repo.store("store", {"k": secrets[7]}, interceptors=seal)
    store.set("k", secrets[8])
    with store.transaction():
        store.set("t.u", secrets[9])
    for i in range(70):  # past a checkpoint
        store.set("n", i)

    async def act() -> None:
        astore = repo.async_store("astore", {"q": 0}, interceptors=seal)
        astore.start_processing()
        await astore.dispatch_and_wait(
            {"type": "SET_STATE", "path": "q", "value": secrets[10]}
        )
        await astore.stop_processing()

    asyncio.run(act())
    return secrets


def _files(where: pathlib.Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(where.parent.iterdir()))


@contextmanager
def _pg_schema() -> Iterator[tuple[str, Callable[[], bytes]]]:
    with closing(admin()) as conn:
        name = f"st_test_{uuid.uuid4().hex[:12]}"
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))

        def rows() -> bytes:
            tables = conn.execute(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = %s",
                [name],
            ).fetchall()
            out = []
            for (table,) in tables:
                query = sql.SQL("SELECT t::text FROM {}.{} t").format(
                    sql.Identifier(name), sql.Identifier(table)
                )
                out += [r[0] for r in conn.execute(query).fetchall()]
            return "\n".join(out).encode()

        try:
            yield f"{URL}?schema={name}", rows
        finally:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


@contextmanager
def _place(kind: str, tmp: pathlib.Path) -> Iterator[tuple[str, Callable[[], bytes]]]:
    if kind == "postgres":
        with _pg_schema() as place:
            yield place
        return
    where = tmp / "h" / ("h.db" if kind == "sqlite" else "h.json")
    where.parent.mkdir()
    yield str(where), lambda: _files(where)


@pytest.mark.parametrize("kind", ["sqlite", "json", "postgres"])
class TestAtRest:
    """Every backend stores sealed values only."""

    def test_no_secret_in_clear(self, kind: str, tmp_path: pathlib.Path) -> None:
        """Secrets written through every path are not in the stored bytes."""
        key = Encrypt.generate_key()
        with _place(kind, tmp_path) as (target, raw):
            with statetrail.open(target) as repo:
                secrets = _write_every_path(repo, [Compress(), Encrypt(key)])
                stored_rows = [
                    row
                    for name in ("var", "store", "astore")
                    for row in repo.backend.read(name)
                ]
            data = raw()
            assert _SECRET.encode() not in data
            assert b"enc" in data
            assert b"gAAAAA" in data
            # Redis stream entries are made from the stored rows.
            for row in stored_rows:
                entry = encode_entry(row)
                fields = [
                    v if isinstance(v, bytes) else v.encode() for v in entry.values()
                ]
                assert _SECRET.encode() not in b"".join(fields)
                assert _SECRET not in schema.dumps(schema.from_row(row)).decode()
            # Read back with the key (the keyring): equal.
            with statetrail.open(target) as repo:
                v = repo.watch("var")
                assert v.get() == {"a": secrets[6]}
                assert [r.value for r in v.history()][3]["xs"] == [secrets[3]]
                assert repo.store("store").get("t.u") == secrets[9]
                assert repo.store("astore").get("q") == secrets[10]
                assert repo.verify() == {"var": 7, "store": 73, "astore": 2}
            _sealed.reset_keyring()
            with (
                pytest.raises(DecryptionError, match="no key"),
                statetrail.open(target) as repo,
            ):
                repo.watch("var").get()
            Encrypt(Encrypt.generate_key())  # the wrong key
            with (
                pytest.raises(DecryptionError, match="wrong key"),
                statetrail.open(target) as repo,
            ):
                repo.watch("var").get()

    def test_plain_control(self, kind: str, tmp_path: pathlib.Path) -> None:
        """Without Encrypt the same writes are in clear: the check above can see."""
        with _place(kind, tmp_path) as (target, raw):
            with statetrail.open(target) as repo:
                secrets = _write_every_path(repo, [])
            data = raw()
            for secret in secrets[:11]:
                assert secret.encode() in data, secret


class TestKeys:
    """Rotation, wrong keys, bad keys."""

    def test_rotation_reads_old_writes_new(self, tmp_path: pathlib.Path) -> None:
        """Encrypt([new, old]) reads the old values and writes with the new key."""
        old, new = Encrypt.generate_key(), Encrypt.generate_key()
        target = str(tmp_path / "h.db")
        with statetrail.open(target) as repo:
            repo.watch("v", "first", interceptors=[Encrypt(old)]).set("second")
        _sealed.reset_keyring()
        rotated = Encrypt([new, old])
        with statetrail.open(target) as repo:
            v = repo.watch("v", interceptors=[rotated])
            assert [r.value for r in v.history()] == ["first", "second"]
            v.set("third")
            rows = repo.backend.read("v")
        tokens = [codec.parse(row.payload)["patch"][0][2]["v"] for row in rows[1:]]
        assert Encrypt(new).decrypt(tokens[-1])  # the newest: new key
        only_new = Encrypt(new)
        with pytest.raises(DecryptionError):
            only_new.decrypt(tokens[0])  # the old: old key only
        _sealed.reset_keyring()
        Encrypt(new)
        with pytest.raises(DecryptionError), statetrail.open(target) as repo:
            repo.watch("v").get()  # revision 0 needs the old key

    def test_bad_key(self) -> None:
        """A key that is not a Fernet key: ValueError at once."""
        with pytest.raises(ValueError, match="Fernet key"):
            Encrypt(b"short")
        with pytest.raises(ValueError, match="at least one"):
            Encrypt([])

    def test_tampered_token(self) -> None:
        """An altered token is refused (authenticated), never decoded to garbage."""
        enc = Encrypt(Encrypt.generate_key())
        tree = codec.to_json("hello", seal=(enc,))
        token = tree["v"]
        bad = {
            "$t": "enc",
            "v": token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:],
        }
        with pytest.raises(DecryptionError):
            codec.from_json(bad)
        assert codec.from_json(tree) == "hello"


class TestInMemoryAndFiles:
    """In memory values stay plain; save and export seal them."""

    def test_validators_and_diff_see_plain(self) -> None:
        """Validators, diff and blame work on plain values."""
        seen: list[Any] = []
        v: Var[Any] = Var(
            "v",
            {"a": "x"},
            interceptors=[Encrypt(Encrypt.generate_key())],
            validators=[seen.append],
        )
        v.set_in("a", "y")
        assert seen == [{"a": "y"}]
        assert [(c.path, c.new) for c in v.diff(0, 1)] == [(("a",), "y")]
        assert v.blame("a") is not None

    def test_save_and_load(self, tmp_path: pathlib.Path) -> None:
        """Var.save writes sealed values; load with the key reads them."""
        secret = _secret(0)
        v = Var("v", {"a": "x"}, interceptors=[Encrypt(Encrypt.generate_key())])
        v.set_in("a", secret)
        path = tmp_path / "v.json"
        v.save(path)
        assert secret.encode() not in path.read_bytes()
        assert Var.load(path).get() == {"a": secret}

    def test_cli(self, tmp_path: pathlib.Path) -> None:
        """The CLI shows <encrypted>, and the values with --key-file."""
        key = Encrypt.generate_key()
        (tmp_path / "key").write_bytes(key + b"\n")
        target = str(tmp_path / "h.db")
        secret = _secret(0)
        with statetrail.open(target) as repo:
            repo.watch("v", {"a": "x"}, interceptors=[Encrypt(key)]).set_in("a", secret)
        _sealed.reset_keyring()

        def run(*args: str) -> tuple[int, str]:
            out, err = io.StringIO(), io.StringIO()
            code = main(list(args), out=out, err=err)
            return code, out.getvalue() + err.getvalue()

        for args in (("show", target, "v"), ("log", target, "v")):
            code, text = run(*args)
            assert code == 0
            assert "<encrypted>" in text
            assert secret not in text
        code, text = run("export", target, "v", "--full")
        assert code == 2
        assert "--key-file" in text
        code, text = run("show", target, "v", "--key-file", str(tmp_path / "key"))
        assert code == 0
        assert secret in text
        _sealed.reset_keyring()
        code, text = run(
            "export", target, "v", "--full", "--key-file", str(tmp_path / "key")
        )
        assert code == 0
        assert secret not in text
        assert '"enc"' in text
        code, text = run("verify", target)
        assert code == 0, text


class TestPlaceholders:
    """Looking for a placeholder costs nothing until one is made."""

    def test_no_walk_until_a_placeholder_is_made(self) -> None:
        """``verify`` asks every revision's value whether it holds a
        placeholder: while nothing read in the block was encrypted, the value
        is not walked (issue 11: 56 ms a revision at 1,000 entries)."""
        walked = []

        class Watched(dict[str, Any]):
            def values(self) -> Any:
                walked.append(self)
                return super().values()

        _sealed.reset_keyring()
        with _sealed.placeholders():
            assert not _sealed.contains_placeholder(Watched(a=1))
            assert walked == []
            # No key opens this text: it reads as the placeholder, and from
            # then on values are looked through.
            assert _sealed.open_sealed(_sealed.ENC_TAG, "gAAAA") is _sealed.ENCRYPTED
            assert _sealed.contains_placeholder([Watched(a=_sealed.ENCRYPTED)])
            assert len(walked) == 1
        assert not _sealed.contains_placeholder([_sealed.ENCRYPTED])  # block over


class TestCompress:
    """Compress stores large values smaller and reads them back."""

    def test_round_trip_and_size(self, tmp_path: pathlib.Path) -> None:
        """A large value is stored compressed; a small one as it is."""
        big = {"text": "abc " * 5000}
        tree = codec.to_json(big, seal=(Compress(9),))
        assert tree["$t"] == "zlib"
        assert len(codec.canonical(tree)) < len(codec.dumps(big)) / 10
        assert codec.from_json(tree) == big
        assert codec.to_json("small", seal=(Compress(),)) == "small"
        with statetrail.open(str(tmp_path / "h.db")) as repo:
            repo.watch("v", big, interceptors=[Compress()]).set_in("text", "x")
        with statetrail.open(str(tmp_path / "h.db")) as repo:
            assert next(r.value for r in repo.watch("v").history()) == big

    def test_bomb_refused(self) -> None:
        """A compressed value opening to more than the limit is refused."""
        import base64
        import zlib

        packed = base64.b64encode(zlib.compress(b"0" * 100_001)).decode()
        with pytest.raises(statetrail.CorruptHistoryError, match="more than"):
            _sealed.inflate(packed, limit=100_000)
        assert len(_sealed.inflate(packed, limit=200_000)) == 100_001

    def test_bad_level(self) -> None:
        """Levels outside 0-9 are refused."""
        with pytest.raises(ValueError, match="0 to 9"):
            Compress(10)


class TestTrim:
    """A trim's new checkpoints are sealed as the values they stand for were."""

    def test_trim_keeps_values_sealed(self, tmp_path: pathlib.Path) -> None:
        """After trimming an encrypted timeline no secret is in the file."""
        target = str(tmp_path / "h.db")
        enc = Encrypt(Encrypt.generate_key())
        secret = _secret(0)
        with statetrail.open(target) as repo:
            v = repo.watch("v", {"s": secret, "n": 0}, interceptors=[enc])
            for i in range(1, 40):
                v.set_in("n", i)
        with statetrail.open(target) as repo:  # not open: read through the keyring
            repo.trim("v", keep_last=5)
            repo.reclaim()
        assert secret.encode() not in _files(tmp_path / "h.db")
        with statetrail.open(target) as repo:
            assert repo.watch("v").get() == {"s": secret, "n": 39}
