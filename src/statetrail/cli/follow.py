"""``statetrail follow``: print a timeline's revisions as they are committed.

As ``tail -f`` prints new lines: from a Redis stream (``redis://`` or
``rediss://``, published with ``statetrail.open(..., publish=URL)``), or from
the history itself (a file or a ``postgresql://`` URL). One line per revision
(number, time, author, label, comment, the changed paths), or with ``--json``
one revision object per line (``docs/revision-json.md``).
"""

from __future__ import annotations

from typing import TextIO

__all__ = ["follow"]


def follow(
    target: str,
    name: str,
    out: TextIO,
    *,
    after: int | None = None,
    source: str | None = None,
    as_json: bool = False,
    count: int | None = None,
) -> None:
    """Print the revisions of ``name`` at ``target`` as they arrive.

    Ends after ``count`` revisions (never, without it), on a closed pipe, or on
    Ctrl-C.

    Raises:
        SyncError: The stream cannot be followed (a refused password, revisions
            it no longer holds and no ``source`` to read them from).
    """
    from statetrail.live import follow as follow_live
    from statetrail.storage.revision_json import dumps, format_time, from_revision

    if count is not None and count < 1:
        raise ValueError(f"--count must be at least 1, not {count}")
    seen = 0
    with follow_live(target, name, after=after, source=source) as following:
        for rev in following:
            if as_json:
                out.write(dumps(from_revision(rev, name)).decode() + "\n")
            else:
                paths = " ".join(c.dotted or "." for c in rev.changes[:5])
                more = len(rev.changes) - 5
                if more > 0:
                    paths += f" (+{more})"
                fields = (
                    str(rev.number),
                    format_time(rev.time_ns),
                    rev.author or "-",
                    rev.label or "-",
                    (rev.comment or "-").replace("\t", " ").replace("\n", " "),
                    paths or "-",
                )
                out.write("\t".join(fields) + "\n")
            out.flush()
            seen += 1
            if count is not None and seen >= count:
                return
