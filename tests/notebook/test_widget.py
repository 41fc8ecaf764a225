"""statetrail.widget's Python side, and examples/timeline.ipynb run in a kernel."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import statetrail
from statetrail.immutable import RevisionedImmutable, RevisionedMapping, update
from statetrail.web._local import LocalSource
from statetrail.web._widget import TimelineWidget, module_text

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "timeline.ipynb"


def test_import_statetrail_leaves_anywidget_out() -> None:
    code = (
        "import sys, statetrail; "
        "print('anywidget' in sys.modules, 'statetrail.web' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False", "False"]
    assert statetrail.widget.__module__ == "statetrail.web._widget"


def test_the_module_is_the_page_component_and_the_model_source() -> None:
    text = module_text()
    static = Path(statetrail.__file__).parent / "web" / "static"
    assert text.startswith((static / "timeline.js").read_text(encoding="utf-8"))
    assert "export function modelSource" in text
    assert 'from "./' not in text


def ask(widget: TimelineWidget, method: str, *args: Any) -> Any:
    reply = widget.answer({"id": 7, "method": method, "args": list(args)})
    assert reply is not None
    assert reply["id"] == 7
    return reply


@pytest.mark.parametrize("kind", ["var", "store", "async_store", "timeline", "repo"])
def test_widget_takes_each_kind_of_object(kind: str, tmp_path: Path) -> None:
    if kind == "var":
        obj: Any = statetrail.Var("v", {"a": 1})
        obj.set({"a": 2}, author="ann")
    elif kind in ("store", "async_store"):
        cls = statetrail.Store if kind == "store" else statetrail.AsyncStore
        obj = cls(initial_state={"a": 1}, name="v")
        obj.timeline.set({"a": 2}, author="ann")
    elif kind == "timeline":
        obj = statetrail.Timeline({"a": 1}, name="v")
        obj.set({"a": 2}, author="ann")
    else:
        repo = statetrail.open(tmp_path / "h.db")
        repo.timeline("v", {"a": 1}).set({"a": 2}, author="ann")
        obj = (repo, "v")
    widget = statetrail.widget(obj)
    try:
        assert widget.timeline_name == "v"
        (summary,) = ask(widget, "timelines")["result"]
        assert (summary["name"], summary["revisions"], summary["head"]) == ("v", 2, 1)
        assert ask(widget, "revision", "v", 1)["result"]["value"] == {"a": 2}
    finally:
        widget.close()
        if kind == "repo":
            obj[0].close()


def test_widget_takes_a_revisioned_object() -> None:
    class Answer(RevisionedImmutable):
        def __init__(self, answer: Any = None) -> None:
            self.answer = answer

    data = RevisionedMapping()
    data["a"] = first = Answer()
    with update(first, "universe", "Provide Answer") as second:
        second.answer = 42
    for obj in (second, data.revision_manager("a")):
        widget = statetrail.widget(obj)
        try:
            page = ask(widget, "revisions", widget.timeline_name, {})["result"]
            assert [r["author"] for r in page] == ["universe", None]
        finally:
            widget.close()


def test_widget_refuses_what_has_no_history() -> None:
    with pytest.raises(TypeError, match="not int"):
        statetrail.widget(3)
    repo = statetrail.open(":memory:")
    with pytest.raises(statetrail.UnknownTimelineError):
        statetrail.widget((repo, "nothing"))
    repo.close()


def test_bad_questions_get_errors_not_exceptions() -> None:
    var = statetrail.Var("v", {"a": [1, 2]})
    widget = statetrail.widget(var)
    try:
        assert "no timeline" in ask(widget, "revision", "w", 0)["error"]
        assert (
            "not found" in ask(widget, "revision", "v", 9)["error"].lower()
            or ask(widget, "revision", "v", 9)["error"]
        )
        assert "limit" in ask(widget, "revisions", "v", {"limit": 5000})["error"]
        assert "ISO" in ask(widget, "revisions", "v", {"since": "yesterday"})["error"]
        assert "unknown filter" in ask(widget, "revisions", "v", {"evil": 1})["error"]
        assert "JSON Pointer" in ask(widget, "blame", "v", "a/0")["error"]
        assert "unknown method" in ask(widget, "__class__")["error"]
        assert widget.answer("not a message") is None
        assert var.value == {"a": [1, 2]}
    finally:
        widget.close()


def test_pages_filters_and_diffs_match_the_timeline() -> None:
    timeline = statetrail.Timeline({"n": 0, "xs": []}, name="t")
    for i in range(1, 120):
        author = "even" if i % 2 == 0 else "odd"
        timeline.set({"n": i, "xs": [i] if i % 10 == 0 else []}, author=author)
    source = LocalSource(timeline)
    first = source.revisions("t", {"limit": 50})
    assert [r["number"] for r in first] == list(range(119, 69, -1))
    second = source.revisions("t", {"limit": 50, "before": first[-1]["number"]})
    assert [r["number"] for r in second] == list(range(69, 19, -1))
    evens = source.revisions("t", {"author": "even", "limit": 1000})
    assert {r["author"] for r in evens} == {"even"}
    assert len(evens) == 59
    touched = source.revisions("t", {"path": "/xs/0", "limit": 1000})
    assert [r["number"] for r in touched] == [
        n for n in range(119, 9, -1) if n % 10 in (0, 1)
    ]
    # The first revision made the path when its value has it.
    assert source.revisions("t", {"path": "/n", "limit": 1000})[-1]["number"] == 0
    diff = source.diff("t", 5, 10)
    assert diff["changes"] == [
        {"op": "replace", "path": "/n", "value": 10},
        {"op": "add", "path": "/xs/0", "value": 10},
    ]
    assert source.diff("t", None, 0)["changes"][0]["path"] == ""
    assert [r["number"] for r in source.after("t", 117)] == [118, 119]


def test_unstorable_values_are_shown_by_their_repr() -> None:
    class Thing:
        def __repr__(self) -> str:
            return "Thing()"

    timeline = statetrail.Timeline({"x": 1}, name="t")
    timeline.set({"x": Thing()})
    doc = LocalSource(timeline).revision("t", 1)
    assert doc["value"] == {"x": {"$t": "repr", "v": "Thing()"}}
    assert doc["parents"] == [0]


def test_listener_pushes_and_close_stops_it() -> None:
    var = statetrail.Var("v", 1)
    widget = statetrail.widget(var)
    sent: list[Any] = []
    widget.send = sent.append  # type: ignore[method-assign]
    var.set(2, author="ann")
    assert [m["revision"]["number"] for m in sent] == [1]
    widget.answer({"method": "subscribe", "args": ["v", 0]})
    assert [m["revision"]["number"] for m in sent] == [1, 1]
    widget.close()
    var.set(3)
    assert len(sent) == 2


def test_the_example_notebook_runs() -> None:
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    notebook = nbformat.read(EXAMPLE, as_version=4)
    env = dict(os.environ)
    client = nbclient.NotebookClient(
        notebook,
        timeout=60,
        kernel_name="python3",
        resources={"metadata": {"path": str(EXAMPLE.parent)}},
    )
    client.execute(env=env)
    outputs = [
        o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs
    ]
    assert not [o for o in outputs if o.output_type == "error"]
    views = [
        o
        for o in outputs
        if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    assert len(views) == 1
    texts = [
        o["data"]["text/plain"] for o in outputs if "text/plain" in o.get("data", {})
    ]
    assert texts[0] == "4"
    assert "5" in texts
    assert texts[-1] == "['tea']"


def test_blame_walks_back_from_the_revision_asked() -> None:
    timeline = statetrail.Timeline({"total": 0, "items": []}, name="t")
    timeline.set({"total": 4, "items": ["tea"]}, author="ann")
    timeline.set({"total": 9, "items": ["tea"]}, author="bob")
    timeline.set({"total": 9, "items": ["tea", "jam"]}, author="cy")
    source = LocalSource(timeline)
    assert source.blame("t", "/total", 3)["revision"]["author"] == "bob"
    assert source.blame("t", "/total", 1)["revision"]["author"] == "ann"
    assert source.blame("t", "/items/0", 3)["revision"]["author"] == "ann"
    assert source.blame("t", "/items/1", 3)["revision"]["author"] == "cy"
    assert source.blame("t", "/items/1", 2)["revision"] is None
    assert source.blame("t", "/total", 0)["revision"]["number"] == 0
    # Without `at`, from the cursor.
    timeline.checkout(1)
    assert source.blame("t", "/total")["revision"]["author"] == "ann"


def test_pages_are_the_timeline_log() -> None:
    """Pages of every branch or one, with each filter but the path, are
    what the timeline's log says (first parents on a branch)."""
    draw = random.Random(5)
    timeline = statetrail.Timeline({"n": 0}, name="t")
    for i in range(1, 150):
        if i in (50, 100):
            timeline.checkout(i // 2)
            timeline.branch(f"b{i}")
        timeline.set(
            {"n": i},
            author=draw.choice(["ann", "bob"]),
            label=draw.choice([None, "v1"]),
        )
    times = [r.timestamp for r in timeline.revisions()]
    source = LocalSource(timeline)
    for _ in range(200):
        branch = draw.choice([None, "main", "b50", "b100"])
        since = draw.choice([None, *times[::11]])
        until = draw.choice([None, *times[::13]])
        chosen: dict[str, Any] = {
            "author": draw.choice([None, "ann"]),
            "label": draw.choice([None, "v1"]),
            "since": since,
            "until": until,
        }
        before = draw.choice([None, draw.randrange(152)])
        limit = draw.choice([1, 7, 1000])
        want = [
            r.number
            for r in timeline.log(
                branch=branch, all_branches=branch is None, reverse=True, **chosen
            )
            if before is None or r.number < before
        ][:limit]
        asked = {k: v for k, v in chosen.items() if v is not None}
        for key in ("since", "until"):
            if key in asked:
                asked[key] = asked[key].isoformat()
        asked.update(branch=branch, before=before, limit=limit)
        got = [r["number"] for r in source.revisions("t", asked)]
        assert got == want, asked


def test_a_long_stored_timeline_is_paged(tmp_path: Path) -> None:
    """Opened on a stored timeline of 20,000 revisions, the widget's first
    page, a page deep in the history and the newest revisions read a few
    pages of rows, not the history."""
    path = tmp_path / "long.db"
    with statetrail.open(path, durability="batched") as repo:
        store = repo.store("job", {"n": 0})
        for n in range(1, 20_000):
            store.set("n", n)
    with statetrail.open(path) as repo:
        widget = statetrail.widget((repo, "job"))
        try:
            records: Any = widget.source.timeline._records
            before = records.rows_read
            first = ask(widget, "revisions", "job", {"limit": 100})["result"]
            assert [r["number"] for r in first] == list(range(19_999, 19_899, -1))
            deep = ask(widget, "revisions", "job", {"before": 5000, "limit": 50})
            assert deep["result"][-1]["number"] == 4950
            assert ask(widget, "timelines")["result"][0]["revisions"] == 20_000
            sent: list[Any] = []
            widget.send = sent.append  # type: ignore[method-assign]
            widget.answer({"method": "subscribe", "args": ["job", 19_990]})
            assert [m["revision"]["number"] for m in sent] == list(
                range(19_991, 20_000)
            )
            assert records.rows_read - before <= 1_024, records.rows_read
        finally:
            widget.close()
