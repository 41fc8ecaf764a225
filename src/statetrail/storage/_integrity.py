"""What the hash chain covers, and how each stored part is checked against it.

Pure functions over :class:`~statetrail.storage.base.Row` and friends; the
journal calls them when it writes, the verifier (``_verify``) and the loaders
when they read.

**Format 2** (this code writes it; format 1 is still read, see below):

- *A row's digest* covers its metadata and the digest of its payload,
  ``H(meta, H(payload))``. Split so, an erased row still verifies its metadata:
  the payload's digest moves into the tombstone when the payload is dropped.
- *The chain is linear*: revision ``n``'s chain is ``H(chain[n - 1], digest[n])``
  whatever its parent (the parent's number is in the metadata), so the chain of
  the newest revision covers every revision of every branch. That one value is
  what the end record and an anchor hold.
- *The end of the history*: every backend keeps, per timeline, the number of
  revisions and the chain of the newest, updated in the append itself (an SQLite
  trigger, a PostgreSQL trigger, the JSON document, a dict). Deleting the newest
  revisions leaves a valid-looking prefix; the end record tells.
- *A tombstone* (who erased the payload, why, when) is written after its row's
  chain is fixed, so it cannot be in the chain. It carries the payload's digest
  and a seal ``H(chain, author, reason, time, payload digest)``: editing it, or
  copying another row's, is found without help. We chose a seal over recording
  erasures as new revisions (append-only) because an erasure is not a change of
  value: it would lengthen the timeline, move its head and show in every log.
  The price: a rewrite that recomputes a seal is not caught by an anchor, which
  pins revisions, not later erasures.
- *A checkpoint's* digest is ``H(chain, value)``: bound to its revision, so it
  cannot stand for another, nor be recomputed as a plain hash of the value.
  Where its revision's value can be rebuilt from patches, the verifier also
  compares the two, which catches a checkpoint rewritten with the right formula.
  Where it cannot (the child of an erased revision), the erased revision's
  tombstone lists that checkpoint's digest under its seal.
- *Heads* (cursor and branch tips) carry a seal over each one's number and
  chain: moving the cursor back by hand, or pointing a tip elsewhere, is found.

**Format 3** is format 2 with a *value commitment*: the payload's last member
is the Merkle digest of the revision's whole value (``_value_digest``), so the
row's digest and the chain cover it (:func:`committed_value` reads it). Every
checkpoint is then checked against the row of its own revision, written and
chained at that revision's time: a tombstone forged later (its seal
recomputed) can hide the erased revision's value, but cannot make a child's
checkpoint stand for another value. The digests and chain are computed as in
format 2, so a format-3 row verifies by format 2's rules; only its payload is
longer.

Every format-2 hash starts with its own tag (``st2r``, ``st2c`` ...), so no value
of one kind can pass for another, nor for a format-1 hash (which starts with a
length, a zero byte).

**Format 1** (statetrail before this change): digest ``H(meta, payload)``, chain
along parent links, checkpoint digest ``H(value)``, no seals, no end record.
Rows written so still verify; a timeline's rows switch to format 2 at the first
revision written by this code, and a format-1 row after a format-2 one is a
problem. What format 1 cannot give stays as it was: the metadata of a row erased
in format 1 is not checkable (its digest needs the payload), and its chain covers
its lineage only.

**Anchors** are one line per timeline: ``<number> <chain prefix> <name as JSON>``,
the newest revision's number and the first 32 hex digits (128 bits) of its chain.
Kept elsewhere, an anchor proves revisions ``0..number``: any later rewrite,
however consistent, changes that chain (the git model: a commit id written down
proves the history under it).
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from statetrail.storage import codec
from statetrail.storage.base import Heads, Row

__all__ = [
    "ANCHOR_HEX",
    "ROOT_CHAIN",
    "Anchor",
    "Tombstone",
    "chain_v1",
    "chain_v2",
    "checkpoint_digest",
    "checkpoint_problem",
    "committed_value",
    "digest_v1",
    "format_anchor",
    "heads_seal",
    "index_seal",
    "meta_bytes",
    "meta_of",
    "parse_anchor",
    "parse_tombstone",
    "payload_digest",
    "row_check",
    "row_digest",
    "sealed_checkpoint",
    "tombstone",
    "written_in_format_2",
]

#: The chain before revision 0.
ROOT_CHAIN = ""
#: Hex digits of a chain an anchor keeps.
ANCHOR_HEX = 32
_LENGTH = struct.Struct(">Q")
_sha256 = hashlib.sha256


def meta_of(
    timeline: str,
    number: int,
    parent: int | None,
    branch: str,
    time_ns: int,
    kind: str,
    target: int | None,
    label: str | None,
    author: str | None,
    comment: str | None,
    extra: str | None,
    origin: str | None,
    paths: tuple[str, ...],
) -> bytes:
    """The canonical bytes of a row's metadata (every field but the payload)."""
    return codec.canonical(
        [
            timeline,
            number,
            parent,
            branch,
            time_ns,
            kind,
            target,
            label,
            author,
            comment,
            extra,
            origin,
            list(paths),
        ]
    )


def meta_bytes(row: Row) -> bytes:
    """:func:`meta_of` for a stored row."""
    return meta_of(
        row.timeline,
        row.number,
        row.parent,
        row.branch,
        row.time_ns,
        row.kind,
        row.target,
        row.label,
        row.author,
        row.comment,
        row.extra,
        row.origin,
        row.paths,
    )


def payload_digest(payload: bytes) -> str:
    """The digest of a payload, kept in the tombstone once the payload is gone."""
    return _sha256(payload).hexdigest()


def row_digest(meta: bytes, payload_hex: str) -> str:
    """A format-2 row digest: its metadata and its payload's digest."""
    head = b"st2r" + _LENGTH.pack(len(meta))
    return _sha256(head + meta + payload_hex.encode()).hexdigest()


def chain_v2(previous: str, digest: str) -> str:
    """A format-2 chain: the previous revision's chain, then this digest."""
    return _sha256(b"st2c" + previous.encode() + b"/" + digest.encode()).hexdigest()


def _v1(first: bytes, second: bytes) -> str:
    return _sha256(
        _LENGTH.pack(len(first)) + first + _LENGTH.pack(len(second)) + second
    ).hexdigest()


def digest_v1(meta: bytes, payload: bytes) -> str:
    """A format-1 row digest (metadata and payload)."""
    return _v1(meta, payload)


def chain_v1(parent_chain: str, digest: str) -> str:
    """A format-1 chain: the parent's chain, then this digest."""
    return _v1(parent_chain.encode(), digest.encode())


def checkpoint_digest(chain: str, value: bytes) -> str:
    """The digest of a checkpoint of the revision whose chain is ``chain``."""
    return _sha256(b"st2k" + chain.encode() + b"/" + value).hexdigest()


def checkpoint_problem(chain: str, version: int, value: str, digest: str) -> str | None:
    """Why a checkpoint does not belong to its revision, or ``None``.

    ``version`` is its row's format: a format-1 row's checkpoint may carry the
    format-1 digest (a hash of the value alone).
    """
    if type(value) is not str or type(digest) is not str:
        return "its checkpoint has a field of the wrong type (altered)"
    data = value.encode()
    if digest == checkpoint_digest(chain, data):
        return None
    if version == 1 and digest == codec.digest(data):
        return None
    return "its checkpoint does not match its digest and chain (altered)"


#: How a format-3 payload ends: its value digest, the payload's last member.
_COMMITTED = ',"value_digest":"'
_HEX = frozenset("0123456789abcdef")


def committed_value(row: Row) -> str | None:
    """The value digest ``row``'s payload commits to (format 3), or ``None``.

    ``None`` for a row written before format 3 and for an erased row (its value
    is gone, and its children commit to their own). The payload is canonical
    JSON whose last member is the digest, so it is read from the end without
    parsing the patch; the row's digest covers it like the rest of the payload.
    """
    payload = row.payload
    if type(payload) is not str or not payload.endswith('"}'):
        return None
    start = len(payload) - 66
    if payload[start - len(_COMMITTED) : start] != _COMMITTED:
        return None
    digest = payload[start:-2]
    return digest if _HEX.issuperset(digest) else None


class Tombstone(NamedTuple):
    """A parsed tombstone; ``payload`` and ``seal`` are ``None`` in format 1.

    ``checkpoints`` maps each child's number to the digest of the checkpoint
    that keeps its value readable (the patches can no longer rebuild it).
    """

    author: str | None
    reason: str
    time_ns: int
    payload: str | None
    seal: str | None
    checkpoints: dict[str, str]


def _seal_of(
    chain: str,
    author: str | None,
    reason: str,
    time_ns: int,
    payload: str | None,
    checkpoints: dict[str, str],
) -> str:
    body: list[Any] = [chain, author, reason, time_ns, payload]
    if checkpoints:
        # In the order the stored text has (json.dumps(sort_keys=True) sorts the
        # numbers as text: "10" before "2"), since canonical() keeps dict order.
        body.append(dict(sorted(checkpoints.items())))
    return _sha256(b"st2e" + codec.canonical(body)).hexdigest()


def tombstone(
    chain: str,
    author: str | None,
    reason: str,
    time_ns: int,
    payload: str | None,
    checkpoints: dict[int, str] | None = None,
) -> str:
    """The tombstone text of an erased row: who, why, when, and its seal.

    ``payload`` is the erased payload's digest (``None`` for a format-1 row,
    whose digest does not use it); ``checkpoints`` the digests of the children's
    checkpoints, which alone hold their values from now on: sealed here, a
    checkpoint rewritten with its digest recomputed is still found.
    """
    children = {str(n): d for n, d in sorted((checkpoints or {}).items())}
    body: dict[str, Any] = {"author": author, "reason": reason, "time_ns": time_ns}
    if payload is not None:
        body["payload"] = payload
    if children:
        body["checkpoints"] = children
    body["seal"] = _seal_of(chain, author, reason, time_ns, payload, children)
    return json.dumps(body, sort_keys=True)


def parse_tombstone(text: str | None) -> Tombstone | None:
    """The tombstone in ``text``, or ``None`` when it is missing or malformed."""
    if text is None:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    author, reason = data.get("author"), data.get("reason")
    time_ns = data.get("time_ns")
    payload, seal = data.get("payload"), data.get("seal")
    children = data.get("checkpoints", {})
    if (
        not (author is None or isinstance(author, str))
        or not isinstance(reason, str)
        or type(time_ns) is not int
        or not (payload is None or isinstance(payload, str))
        or not (seal is None or isinstance(seal, str))
        or not isinstance(children, dict)
        or not all(isinstance(d, str) for d in children.values())
    ):
        return None
    return Tombstone(author, reason, time_ns, payload, seal, children)


def written_in_format_2(row: Row) -> bool:
    """Whether ``row`` was written in format 2 (its digest or tombstone says so).

    A file labelled as an older version that holds such a row was downgraded
    by hand: upgrading it would trust (and re-seal) whatever was changed.
    """
    if row.payload is not None and type(row.payload) is str:
        return row.digest == row_digest(
            meta_bytes(row), payload_digest(row.payload.encode())
        )
    tomb = parse_tombstone(row.erased)
    return tomb is not None and (tomb.payload is not None or tomb.seal is not None)


def sealed_checkpoint(parent: Row, number: int) -> str | None:
    """The checkpoint digest an erased ``parent``'s tombstone lists for a child.

    ``None`` when it lists none (format 1, or erased before the list); ``""``
    when its seal does not hold or ``number`` is not listed (no digest matches).
    """
    tomb = parse_tombstone(parent.erased)
    if tomb is None or not tomb.checkpoints:
        return None
    seal = _seal_of(
        parent.chain,
        tomb.author,
        tomb.reason,
        tomb.time_ns,
        tomb.payload,
        tomb.checkpoints,
    )
    if seal != tomb.seal:
        return ""
    return tomb.checkpoints.get(str(number), "")


class RowCheck(NamedTuple):
    """What :func:`row_check` found: the row's format and the problem, if any."""

    version: int
    problem: str | None


def row_check(row: Row, previous: str, parent: Callable[[], str]) -> RowCheck:
    """Check one row against its digest, its link in the chain and its tombstone.

    Args:
        row: The stored row.
        previous: The chain of revision ``row.number - 1`` (format 2 links to it).
        parent: Gives the chain of the row's parent (format 1 links to it);
            called only for a format-1 row.
    """
    # The backends check each field's type as they read it (_row_checks).
    meta = meta_bytes(row)
    tomb: Tombstone | None = None
    if row.payload is not None:
        if row.erased is not None:
            return RowCheck(0, "has both a payload and a tombstone")
        data = row.payload.encode()
        if row.digest == row_digest(meta, payload_digest(data)):
            version = 2
        elif row.digest == digest_v1(meta, data):
            version = 1
        else:
            return RowCheck(0, "does not match its digest (altered)")
    else:
        tomb = parse_tombstone(row.erased)
        if tomb is None:
            return RowCheck(
                0,
                "has no payload and no readable tombstone (payload removed or "
                "tombstone altered)",
            )
        if tomb.payload is not None:
            if row.digest != row_digest(meta, tomb.payload):
                return RowCheck(
                    0, "is erased and its metadata does not match its digest (altered)"
                )
            version = 2
        else:
            version = 1
    if version == 2:
        # A chain read back from a damaged row may be of another type.
        if type(previous) is not str or row.chain != chain_v2(previous, row.digest):
            return RowCheck(2, "breaks the hash chain")
    else:
        linked = ROOT_CHAIN if row.parent is None else parent()
        if type(linked) is not str or row.chain != chain_v1(linked, row.digest):
            return RowCheck(1, "breaks the hash chain")
    if tomb is not None and (version == 2 or tomb.seal is not None):
        seal = _seal_of(
            row.chain,
            tomb.author,
            tomb.reason,
            tomb.time_ns,
            tomb.payload,
            tomb.checkpoints,
        )
        if tomb.seal != seal:
            return RowCheck(version, "has a tombstone that does not match its seal")
    return RowCheck(version, None)


def heads_seal(timeline: str, heads: Heads, chains: Mapping[int, str]) -> str:
    """The seal of ``heads``: the cursor and every tip, each with its chain.

    ``chains`` maps a revision number to its chain.
    """
    tips = sorted([name, number, chains[number]] for name, number in heads.tips.items())
    return _sha256(
        b"st2h"
        + codec.canonical(
            [timeline, heads.branch, heads.cursor, chains[heads.cursor], tips]
        )
    ).hexdigest()


def index_seal(entries: list[list[Any]]) -> str:
    """The seal of a JSON document's index: ``[name, count, chain]`` per timeline.

    The index lists every timeline with its end record, so deleting a timeline
    from the document (one edit) is found without an anchor.
    """
    return _sha256(b"st2i" + codec.canonical(sorted(entries))).hexdigest()


class Anchor(NamedTuple):
    """One timeline's line of an anchor."""

    name: str
    number: int
    chain: str


def format_anchor(anchors: list[Anchor]) -> str:
    """Anchors as text, one line per timeline."""
    return "\n".join(
        f"{a.number} {a.chain[:ANCHOR_HEX]} {json.dumps(a.name, ensure_ascii=False)}"
        for a in anchors
    )


def parse_anchor(text: str) -> list[Anchor]:
    """The anchors in ``text`` (as :func:`format_anchor` writes them).

    Raises:
        ValueError: ``text`` is not an anchor.
    """
    anchors = []
    for line in text.strip().splitlines():
        line = line.strip()
        if not line:
            continue
        number, _, rest = line.partition(" ")
        chain, _, name_text = rest.partition(" ")
        try:
            name = json.loads(name_text)
            valid = (
                number.isdigit()
                and len(chain) == ANCHOR_HEX
                and all(c in "0123456789abcdef" for c in chain)
                and isinstance(name, str)
            )
        except ValueError:
            valid = False
        if not valid:
            raise ValueError(
                f"not an anchor line: {line[:80]!r}; an anchor is what "
                "repo.anchor() returned: lines of '<number> <chain> \"<name>\"'"
            )
        anchors.append(Anchor(name, int(number), chain))
    if not anchors:
        raise ValueError("the anchor is empty")
    return anchors
