"""``statetrail export``: every revision of a timeline, streamed for other tools.

Rows are read from storage a page at a time, checked against their digests and
hash chain, and written as they are read, so memory stays the same whatever the
length of the history:

- ``--format jsonl`` (the default): one revision object per line, in the schema
  of :mod:`statetrail.storage.revision_json` (docs/revision-json.md), with the
  changes as RFC 6902 operations; ``--full`` adds each whole ``value``;
- ``--format json-patch``: each line is one revision's JSON Patch document
  alone (the first replaces the whole document), to apply in order with any
  RFC 6902 tool.

The changes come from the stored patches without decoding a value; ``--full``
builds each value from its parent's and encodes it, so it costs the size of the
state per revision.
"""

from __future__ import annotations

from typing import Any, BinaryIO, TextIO

import orjson

from statetrail.cli._output import progress
from statetrail.cli.inspect import CommandError, opened, reader
from statetrail.storage import codec
from statetrail.storage import revision_json as schema
from statetrail.storage._sealed import Seal, tracking

__all__ = ["FORMATS", "export"]

#: The formats ``--format`` takes.
FORMATS = ("jsonl", "json-patch")


def _binary(out: TextIO) -> tuple[BinaryIO | None, TextIO]:
    """The byte stream under ``out``, when it has one (after flushing it)."""
    buffer = getattr(out, "buffer", None)
    if buffer is None:
        return None, out
    out.flush()
    return buffer, out


def export(
    target: str,
    name: str,
    out: TextIO,
    *,
    fmt: str = "jsonl",
    full: bool = False,
    err: TextIO | None = None,
) -> int:
    """Write every revision of ``name``, oldest first; return how many.

    A progress bar goes to ``err`` when it is a terminal.

    Raises:
        ValueError: An unknown format, or ``full`` with ``json-patch``.
    """
    if fmt not in FORMATS:
        raise ValueError(f"--format is one of {', '.join(FORMATS)}, not {fmt!r}")
    if full and fmt != "jsonl":
        raise ValueError("--full adds whole values to --format jsonl only")
    binary, text = _binary(out)
    count = 0
    with opened(target) as repo, progress(err, "export") as update:
        stored = reader(repo, name)
        total = stored.latest + 1

        def page(done: int) -> None:
            if update is not None:
                update(name, done, total)

        rows = stored.forward(progress=None if update is None else page)
        lines: list[bytes] = []
        if full:
            with tracking() as used:
                for row, value in stored.values(rows):
                    # What was encrypted in storage stays encrypted here.
                    json_value = _json_value(value, tuple(used[:1]))
                    doc = schema.from_row(row, value=json_value, with_value=True)
                    lines.append(schema.dumps(doc))
                    count += 1
                    if len(lines) >= 64:
                        _write(binary, text, lines)
        else:
            patch = fmt == "json-patch"
            for row in rows:
                doc = schema.from_row(row)
                lines.append(
                    orjson.dumps(doc["changes"]) if patch else schema.dumps(doc)
                )
                count += 1
                if len(lines) >= 512:
                    _write(binary, text, lines)
        _write(binary, text, lines)
        (text if binary is None else binary).flush()  # a closed pipe fails here
    return count


def _json_value(value: Any, seal: tuple[Seal, ...]) -> Any:
    from statetrail.timeline import Erased

    if type(value) is Erased:
        return None
    try:
        return codec.to_json(value, seal=seal)
    except codec.CodecError:
        if "<encrypted>" in repr(value):
            raise CommandError(
                "--full needs the values, and some are encrypted: pass --key-file"
            ) from None
        raise


def _write(binary: BinaryIO | None, text: TextIO, lines: list[bytes]) -> None:
    if not lines:
        return
    data = b"\n".join(lines) + b"\n"
    lines.clear()
    if binary is not None:
        binary.write(data)
    else:
        text.write(data.decode())
