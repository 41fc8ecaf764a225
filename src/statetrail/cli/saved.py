"""``statetrail inspect FILE``: what a file saved by ``Var.save``/``Store.save`` holds.

The first seed's ``alma inspect <file>``. Three kinds of file:

- a history saved by ``Var.save`` (``{"format": "statetrail-history", ...}``):
  checked against its digests and hash chain, then its name, branches and
  every revision (number, time, kind, author, label, comment, value);
- a state saved by ``Store.save`` (or any plain JSON document): the value;
- a Python pickle (the seed's default format): refused, since unpickling runs
  whatever code the file names. ``--allow-pickle`` reads it anyway, after a
  warning on standard error; use it only for a file you made yourself.

Encrypted values show as ``<encrypted>`` unless ``--key-file`` is given.
"""

from __future__ import annotations

import json
import os
from typing import Any, TextIO

from statetrail.cli._output import cell
from statetrail.cli.inspect import PICKLE_MAGIC, CommandError
from statetrail.frozen import thaw
from statetrail.storage import codec
from statetrail.storage._files import read_regular
from statetrail.storage.revision_json import format_time

__all__ = ["PICKLE_WARNING", "inspect_file"]

#: What ``--allow-pickle`` prints before it unpickles.
PICKLE_WARNING = (
    "warning: {path} is a Python pickle. Unpickling runs whatever code the file "
    "names, with your permissions: read it only if you made it yourself or trust "
    "whoever did. statetrail never writes pickles; Var.save writes JSON."
)


def inspect_file(
    path: str, out: TextIO, err: TextIO, *, allow_pickle: bool = False
) -> None:
    """Describe the saved file ``path`` on ``out``.

    Raises:
        CommandError: A missing file, a directory, or a pickle without
            ``allow_pickle``.
        CorruptHistoryError: A saved history that does not verify.
    """
    if not os.path.exists(path):
        raise CommandError(f"{path}: no such file")
    if os.path.isdir(path):
        raise CommandError(f"{path}: is a directory, not a saved file")
    data = read_regular(path)  # a FIFO or device: StorageError, no wait
    if data[:2] in PICKLE_MAGIC:
        if not allow_pickle:
            raise CommandError(
                f"{path}: is a Python pickle, which is not read: unpickling runs "
                "code the file names. If you made it yourself, pass --allow-pickle"
            )
        print(PICKLE_WARNING.format(path=path), file=err)
        _show_pickle(data, out)
        return
    tree = codec.parse(data)
    from statetrail.storage.jsonfile import FORMAT, timeline_from_tree

    if isinstance(tree, dict) and tree.get("format") == FORMAT:
        name, timeline = timeline_from_tree(tree, path)
        revisions = timeline.revisions()
        branches = ", ".join(f"{b}@{n}" for b, n in sorted(timeline.branches().items()))
        out.write(
            f"{path}: the history of {name!r} saved by Var.save, "
            f"{len(revisions)} revision(s), verified; branches {branches}\n"
        )
        for rev in revisions:
            meta = "\t".join(
                cell(x or "-") for x in (rev.author, rev.label, rev.comment)
            )
            out.write(
                f"{rev.number}\t{format_time(rev.time_ns)}\t{rev.kind}\t{meta}\t"
                f"{cell(_text(rev.value))}\n"
            )
        return
    out.write(f"{path}: a saved value (a state saved by Store.save), no history\n")
    out.write(_text(codec.from_json(tree), indent=2) + "\n")


def _show_pickle(data: bytes, out: TextIO) -> None:
    import pickle

    value = pickle.loads(data)  # noqa: S301 - the user passed --allow-pickle
    out.write(f"a pickled {type(value).__module__}.{type(value).__qualname__}\n")
    records = getattr(value, "history", None)
    if callable(records):
        records = records()
    if isinstance(records, list):
        for i, record in enumerate(records):
            out.write(f"{i}\t{cell(repr(record))}\n")
    else:
        out.write(repr(value) + "\n")


def _text(value: Any, indent: int | None = None) -> str:
    return json.dumps(thaw(value), ensure_ascii=False, default=str, indent=indent)
