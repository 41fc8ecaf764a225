"""``statetrail.widget(obj)``: the timeline page's component in a notebook.

The widget is an :class:`anywidget.AnyWidget` (extra ``statetrail[notebook]``),
so it works wherever anywidget does (JupyterLab, Notebook 7, VS Code, marimo).
Its ES module is the served page's own component, ``static/timeline.js``,
followed by ``static/model.js``, the source that asks Python through the widget
model instead of HTTP: anywidget loads the module from one blob URL, where
relative imports cannot resolve, so the two files become one text here.

The page's questions are answered by :class:`~statetrail.web._local.LocalSource`
over the object's timeline; a listener on the timeline pushes each new
revision, and with ``widget.checkout = True`` the revision the slider shows is
checked out.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

try:
    import anywidget
    import traitlets
except ImportError as exc:  # pragma: no cover - the extra is in dev
    raise ImportError(
        "statetrail.widget needs anywidget: pip install 'statetrail[notebook]'"
    ) from exc

from statetrail._log import get_logger
from statetrail.errors import StatetrailError
from statetrail.immutable import RevisionedImmutable
from statetrail.immutable.revisioned import SimpleRevisionedImmutableManager
from statetrail.revision import Revision
from statetrail.store import AsyncStore, Store
from statetrail.timeline import Timeline
from statetrail.var import Var
from statetrail.web._local import LocalSource

__all__ = ["TimelineWidget", "module_text", "widget"]

_STATIC = Path(__file__).resolve().parent / "static"
#: model.js's import of the component, dropped when the two files are joined.
_IMPORT = re.compile(r'^import \{[^}]*\} from "\./[a-z]+\.js";\n', re.MULTILINE)
_log = get_logger(__name__)


def module_text() -> str:
    """The widget's ES module: ``timeline.js``, then ``model.js`` without its import.

    >>> text = module_text()
    >>> "export function mount" in text, "export default" in text, "./" in text
    (True, True, False)
    """
    component = (_STATIC / "timeline.js").read_text(encoding="utf-8")
    adapter = (_STATIC / "model.js").read_text(encoding="utf-8")
    joined, count = _IMPORT.subn("", adapter)
    if count != 1:  # pragma: no cover - a check on the shipped files
        raise RuntimeError("static/model.js must import the component exactly once")
    return component + "\n" + joined


class TimelineWidget(anywidget.AnyWidget):
    """A timeline shown by the page's component, live, in a notebook.

    Args:
        timeline: The timeline to show.
        name: Its name on the page (default: the timeline's own).
    """

    _esm = module_text()
    _css = (_STATIC / "timeline.css").read_text(encoding="utf-8")
    #: Check out the revision the slider shows (the cursor moves; nothing is
    #: recorded).
    checkout = traitlets.Bool(False).tag(sync=True)
    #: The name the timeline has on the page.
    timeline_name = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self, timeline: Timeline[Any], name: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.source = LocalSource(timeline, name)
        self.timeline_name = self.source.name
        self._stop = timeline.add_listener(self._recorded)
        self.on_msg(self._received)

    def answer(self, content: Any) -> dict[str, Any] | None:
        """The reply to one message from the page, or ``None`` when it needs none.

        A question is ``{"id", "method", "args"}`` and its reply ``{"id",
        "result"}`` or ``{"id", "error"}``. ``subscribe`` sends what was recorded
        after the given number; ``select`` checks the revision out when
        :attr:`checkout` is on.
        """
        if not isinstance(content, dict):
            return None
        method = content.get("method")
        args = content.get("args") or []
        if not isinstance(args, list):
            args = []
        source = self.source
        try:
            if method == "subscribe":
                for doc in source.after(*args):
                    self.send({"event": "revision", "revision": doc})
                return None
            if method == "select":
                if self.checkout:
                    _, number = args
                    source.timeline.checkout(int(number))
                return None
            calls: dict[str, Callable[..., Any]] = {
                "timelines": source.timelines,
                "revisions": source.revisions,
                "revision": source.revision,
                "diff": source.diff,
                "blame": source.blame,
            }
            call = calls.get(str(method))
            if call is None:
                raise ValueError(f"unknown method {method!r:.40}")
            result = call(*args)
        except (StatetrailError, ValueError, TypeError) as exc:
            if "id" not in content:
                _log.warning("statetrail.widget: %s failed: %s", method, exc)
                return None
            return {"id": content["id"], "error": str(exc)}
        return {"id": content.get("id"), "result": result}

    def _received(self, _widget: Any, content: Any, _buffers: Any) -> None:
        reply = self.answer(content)
        if reply is not None:
            self.send(reply)

    def _recorded(self, revision: Revision) -> None:
        self.send({"event": "revision", "revision": self.source.doc(revision)})

    def close(self) -> None:
        """Stop following the timeline and close the widget."""
        self._stop()
        super().close()


def _timeline_of(obj: Any) -> tuple[Timeline[Any], str | None]:
    """The timeline behind ``obj`` and the name to show it under."""
    if isinstance(obj, Timeline):
        return obj, obj.name or None
    if isinstance(obj, Var):
        return obj.timeline, obj.name
    if isinstance(obj, Store | AsyncStore):
        return obj.timeline, obj.timeline.name or None
    if isinstance(obj, RevisionedImmutable):
        obj = obj.__im_manager__
        if obj is None:
            raise ValueError("this object has no revision manager, so no history")
    if isinstance(obj, SimpleRevisionedImmutableManager):
        timeline = obj.timeline
        if timeline is None:
            raise ValueError("this revisioned object has no revisions yet")
        return timeline, timeline.name or None
    if isinstance(obj, tuple) and len(obj) == 2 and isinstance(obj[1], str):
        repo, name = obj
        opener = getattr(repo, "timeline", None)
        if callable(opener):
            return opener(name, create=False), name
    raise TypeError(
        "statetrail.widget shows a Var, Store, AsyncStore, Timeline, revisioned "
        f"object or (repository, name), not {type(obj).__name__}"
    )


def widget(obj: Any, *, name: str | None = None) -> TimelineWidget:
    """A notebook widget showing ``obj``'s history, live.

    Args:
        obj: A :class:`~statetrail.Var`, :class:`~statetrail.Store`,
            :class:`~statetrail.AsyncStore`, :class:`~statetrail.Timeline`,
            revisioned object (or its manager), or ``(repository, name)``.
        name: The name to show the timeline under.

    Raises:
        TypeError: ``obj`` is none of these.
        UnknownTimelineError: ``(repository, name)`` names no stored timeline.
    """
    timeline, default = _timeline_of(obj)
    return TimelineWidget(timeline, name or default)
