"""Chromium for the browser tests and the screenshots, and the widget's test bridge.

The browser is Debian's ``chromium`` driven by Playwright (never ``playwright
install``). The widget is rendered the way anywidget renders it: its module
imported from a blob URL and its default export's ``render({model, el})``
called, with ``model`` a JavaScript object implementing anywidget's model
interface (``get``, ``set``, ``on``, ``off``, ``save_changes``, ``send``). The
model's messages go to the real Python widget through the comm it opened
(:class:`PageComm`, a comm whose wire is this page), and what the widget sends
comes back the same way.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import comm
from comm.base_comm import BaseComm

CHROMIUM = os.environ.get("STATETRAIL_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 800}


def missing() -> str | None:
    """Why the browser tests cannot run here, or ``None`` when they can."""
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install playwright)"
    return None


@contextmanager
def chromium() -> Iterator[Any]:
    """A running Chromium (Playwright's Browser), closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


class PageComm(BaseComm):  # type: ignore[misc]
    """A widget comm whose far end is a test page: what it sends waits in ``outbox``."""

    outbox: list[Any]

    def __init__(self, **kwargs: Any) -> None:
        self.outbox = []
        super().__init__(**kwargs)

    def publish_msg(
        self,
        msg_type: str,
        data: Any = None,
        metadata: Any = None,
        buffers: Any = None,
        **keys: Any,
    ) -> None:
        """Keep the widget's custom messages for the page to fetch."""
        if msg_type == "comm_msg" and data and data.get("method") == "custom":
            self.outbox.append(data["content"])

    def deliver(self, content: Any) -> None:
        """Hand the widget a custom message from the page, as the kernel would."""
        self.handle_msg(
            {
                "content": {
                    "comm_id": self.comm_id,
                    "data": {"method": "custom", "content": content},
                },
                "buffers": [],
            }
        )

    def drain(self) -> list[Any]:
        """The messages the widget sent since the last call."""
        out, self.outbox = self.outbox, []
        return out


@contextmanager
def page_comms() -> Iterator[None]:
    """Widgets made inside get a :class:`PageComm` instead of a kernel's comm."""
    before = comm.create_comm
    comm.create_comm = lambda **kwargs: PageComm(**kwargs)
    try:
        yield
    finally:
        comm.create_comm = before


#: The page side (render_widget.js): anywidget's model interface over the Python
#: bindings pySend (a message to the widget; returns what it sent back) and
#: pyPoll (what it sent since), then the module imported from a blob URL and
#: rendered.
RENDER = (Path(__file__).parent / "render_widget.js").read_text(encoding="utf-8")


def render_widget(page: Any, widget: Any) -> None:
    """Render ``widget`` (made inside :func:`page_comms`) into ``page``."""
    wire = widget.comm
    assert isinstance(wire, PageComm), "make the widget inside page_comms()"

    def send(_source: Any, content: Any) -> list[Any]:
        wire.deliver(content)
        return wire.drain()

    def save(_source: Any, traits: dict[str, Any]) -> None:
        widget.set_state({k: v for k, v in traits.items() if k in ("checkout",)})

    page.expose_binding("pySend", send)
    page.expose_binding("pyPoll", lambda _source: wire.drain())
    page.expose_binding("pySave", save)
    page.set_content(
        '<!doctype html><html lang="en"><body><div id="root"></div></body></html>'
    )
    traits = {"checkout": widget.checkout, "timeline_name": widget.timeline_name}
    page.evaluate(RENDER, {"esm": widget._esm, "css": widget._css, "traits": traits})
