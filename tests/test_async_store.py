"""AsyncStore: the action queue, reducers, middleware, event queues, history.

Many concurrent dispatchers with two subscribers that each must receive every
event in order (RELIABILITY C4), bounded queues that report a gap instead of
blocking the writer (S9), origins at the dispatching line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

import statetrail
from statetrail import FrozenDict
from statetrail.store import AsyncStore, EventQueue, Transaction
from tests.conftest import scaled
from tests.reliability import record


def here() -> int:
    """The caller's line number."""
    return sys._getframe(1).f_lineno


def drain(queue: asyncio.Queue[dict[str, Any]]) -> list[dict[str, Any]]:
    """Everything in the queue now."""
    out = []
    while not queue.empty():
        out.append(queue.get_nowait())
    return out


def set_state(path: str, value: Any) -> dict[str, Any]:
    return {"type": "SET_STATE", "path": path, "value": value}


class TestSeedFlow:
    @pytest.mark.asyncio
    async def test_load_process_dispatch_consume_stop(self, tmp_path: Path) -> None:
        """The seed's flow: load the initial file, start, subscribe, dispatch, get
        the STATE_CHANGED event with action_source, read the state, stop."""
        initial = tmp_path / "initial_state.json"
        initial.write_text(json.dumps({"user": {"theme": "light"}}))
        store = AsyncStore(initial)
        await store.load_initial_state()
        store.start_processing()
        events = store.subscribe_events()
        await store.dispatch(set_state("user.theme", "dark"))
        event = await events.get()
        assert event == {
            "type": "STATE_CHANGED",
            "path": "user.theme",
            "old_value": "light",
            "new_value": "dark",
            "revision": 2,
            "action_source": set_state("user.theme", "dark"),
        }
        assert isinstance(event["action_source"], FrozenDict)
        assert store.get_current_state() == {"user": {"theme": "dark"}}
        await store.stop_processing()
        assert not store.is_processing
        assert store.history()[1].extra == {"op": "load", "file": str(initial)}

    @pytest.mark.asyncio
    async def test_a_missing_file_gives_the_initial_state(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """An absent file leaves the initial state (empty by default) and records
        nothing, with a warning."""
        store = AsyncStore(tmp_path / "absent.json", initial_state={"a": 1})
        with caplog.at_level(logging.WARNING):
            await store.load_initial_state()
        assert store.get_current_state() == {"a": 1}
        assert len(store.history()) == 1
        assert "not found" in caplog.text
        plain = AsyncStore(tmp_path / "absent.json")
        await plain.load_initial_state()
        assert plain.get_current_state() == {}
        await AsyncStore().load_initial_state()

    @pytest.mark.asyncio
    async def test_a_malformed_file_is_kept_aside(self, tmp_path: Path) -> None:
        """A malformed initial file gives the empty state and is copied aside."""
        initial = tmp_path / "initial_state.json"
        initial.write_text("{oops")
        store = AsyncStore(initial)
        await store.load_initial_state()
        assert store.get_current_state() == {}
        assert (tmp_path / "initial_state.json.corrupt").read_text() == "{oops"

    @pytest.mark.asyncio
    async def test_ignored_actions_emit_nothing_and_are_logged(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """No path, a non-string path, an unknown type, no type, a malformed path
        and a write that cannot apply: no event, no revision, a log line each."""
        store = AsyncStore(initial_state={"x": 1})
        store.start_processing()
        events = store.subscribe_events()
        with caplog.at_level(logging.WARNING):
            for action in (
                {"type": "SET_STATE", "value": 1},
                {"type": "SET_STATE", "path": 3, "value": 1},
                {"type": "NOPE", "path": "a", "value": 1},
                {"path": "a", "value": 1},
                set_state("a..b", 1),
                set_state("x.y", 1),
            ):
                assert await store.dispatch_and_wait(action) is None
        await store.stop_processing()
        assert drain(events) == []
        assert len(store.history()) == 1
        assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 6

    @pytest.mark.asyncio
    async def test_an_action_must_be_a_mapping(self) -> None:
        """dispatch() refuses something that is not a dict."""
        store = AsyncStore()
        with pytest.raises(TypeError, match="dict"):
            await store.dispatch(["SET_STATE"])  # type: ignore[arg-type]


class TestSubscribers:
    @pytest.mark.asyncio
    async def test_each_subscriber_gets_its_own_queue(self) -> None:
        """Two subscribe_events() calls give two queues that both get every event;
        unsubscribe() stops one."""
        store = AsyncStore()
        store.start_processing()
        first = store.subscribe_events()
        second = store.subscribe_events()
        assert first is not second
        await store.dispatch_and_wait(set_state("a", 1))
        first.unsubscribe()
        await store.dispatch_and_wait(set_state("a", 2))
        await store.stop_processing()
        assert [e["new_value"] for e in drain(first)] == [1]
        assert [e["new_value"] for e in drain(second)] == [1, 2]

    @pytest.mark.asyncio
    async def test_many_dispatchers_two_subscribers_every_event_in_order(
        self,
    ) -> None:
        """100 tasks dispatching concurrently: each of two subscribers receives
        every event exactly once, in revision order, and each task's actions are
        applied in the order it sent them."""
        tasks, per = 100, scaled(50)
        store = AsyncStore()
        store.start_processing()
        queues = [store.subscribe_events(maxsize=0), store.subscribe_events(maxsize=0)]

        async def dispatcher(tid: int) -> None:
            for seq in range(per):
                await store.dispatch(set_state(f"t{tid}", seq))
                if seq % 7 == 0:
                    await asyncio.sleep(0)

        await asyncio.gather(*(dispatcher(t) for t in range(tasks)))
        await store.stop_processing()
        total = tasks * per
        for queue in queues:
            got = drain(queue)
            assert [e["revision"] for e in got] == list(range(1, total + 1))
            last: dict[str, int] = {}
            for e in got:
                assert e["new_value"] == last.get(e["path"], -1) + 1
                last[e["path"]] = e["new_value"]
        assert store.get_current_state() == {f"t{t}": per - 1 for t in range(tasks)}

    @pytest.mark.asyncio
    async def test_events_from_threads_and_tasks_keep_commit_order(self) -> None:
        """Writes from 4 threads mixed with dispatched actions: the queue holds
        every event in revision order."""
        per = scaled(500)
        store = AsyncStore()
        store.start_processing()
        queue = store.subscribe_events(maxsize=0)

        def writer(tid: int) -> None:
            for seq in range(per):
                store.set(f"thread{tid}", seq)

        threads = [threading.Thread(target=writer, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for seq in range(per):
            await store.dispatch(set_state("task", seq))
            await asyncio.sleep(0)
        await asyncio.to_thread(lambda: [t.join() for t in threads])
        await store.stop_processing()
        await asyncio.sleep(0)
        got = drain(queue)
        assert [e["revision"] for e in got] == list(range(1, 5 * per + 1))
        from_threads = [e for e in got if e["path"].startswith("thread")]
        assert all(e["action_source"] is None for e in from_threads)

    @pytest.mark.asyncio
    async def test_a_full_queue_drops_and_reports_the_gap(self) -> None:
        """A consumer that falls behind never blocks the writer: new events are
        dropped, then one EVENTS_DROPPED event says how many and which revisions,
        and delivery goes on."""
        store = AsyncStore(event_queue_size=4)
        store.start_processing()
        queue = store.subscribe_events()
        for n in range(1, 11):
            assert (await store.dispatch_and_wait(set_state("n", n))) is not None
        assert queue.qsize() == 4
        assert queue.dropped == 6
        first = [queue.get_nowait()["revision"] for _ in range(4)]
        await store.dispatch_and_wait(set_state("n", 11))
        await store.stop_processing()
        assert first == [1, 2, 3, 4]
        assert drain(queue) == [
            {
                "type": "EVENTS_DROPPED",
                "count": 6,
                "first_revision": 5,
                "last_revision": 10,
            },
            {
                "type": "STATE_CHANGED",
                "path": "n",
                "old_value": 10,
                "new_value": 11,
                "revision": 11,
                "action_source": set_state("n", 11),
            },
        ]
        assert [r.value["n"] for r in store.history()[5:11]] == list(range(5, 11))

    def test_queue_bounds(self) -> None:
        """A queue holds at least two events, or is unbounded (0)."""
        with pytest.raises(ValueError, match="at least 2"):
            AsyncStore(event_queue_size=1)
        with pytest.raises(ValueError, match="at least 2"):
            EventQueue(1, None)
        with pytest.raises(ValueError, match="at least 2"):
            EventQueue(-5, None)

    @pytest.mark.asyncio
    async def test_subscribe_to_a_path(self) -> None:
        """subscribe_events(path=...) receives changes at, under or above it."""
        store = AsyncStore()
        store.start_processing()
        queue = store.subscribe_events(path="user")
        for action in (
            set_state("user.theme", "dark"),
            set_state("job", 1),
            set_state("user", {"theme": "light"}),
        ):
            await store.dispatch_and_wait(action)
        await store.stop_processing()
        assert [e["path"] for e in drain(queue)] == ["user.theme", "user"]

    def test_a_queue_whose_loop_has_closed_is_dropped(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """After its event loop is gone, a queue is unsubscribed at the next
        event, and the writer is not disturbed."""
        store = AsyncStore()

        async def subscribe() -> EventQueue:
            return store.subscribe_events()

        queue = asyncio.run(subscribe())
        with caplog.at_level(logging.WARNING):
            assert store.set("a", 1) is True
            assert store.set("a", 2) is True
        assert queue.empty()
        assert caplog.records == []
        assert store.timeline._listeners.listeners == ()  # its listener was removed

    def test_events_without_a_loop_go_straight_in(self) -> None:
        """A queue made outside any loop receives events directly."""
        store = AsyncStore()
        queue = store.subscribe_events()
        store.set("a", 1)
        assert queue.get_nowait()["new_value"] == 1

    @pytest.mark.asyncio
    async def test_sync_subscribers_work_too(self) -> None:
        """subscribe(callback) is shared with Store; events carry action_source."""
        store = AsyncStore()
        got: list[dict[str, Any]] = []
        store.subscribe(got.append)
        store.start_processing()
        await store.dispatch_and_wait(set_state("a", 1))
        await store.stop_processing()
        assert got[0]["action_source"] == set_state("a", 1)


class _NoticeWithTheNextEvent(EventQueue):
    """The broken variant of defect 8: taking an event does not report the gap,
    so the notice waits for the next event."""

    def get_nowait(self) -> dict[str, Any]:
        return asyncio.Queue.get_nowait(self)

    def _offer(self, event: dict[str, Any]) -> None:
        missed, self._missed = self._missed, []
        if missed and self.maxsize - self.qsize() >= 2:
            count, first, last = missed
            self.put_nowait(
                {
                    "type": "EVENTS_DROPPED",
                    "count": count,
                    "first_revision": first,
                    "last_revision": last,
                }
            )
        else:
            self._missed = missed
        super()._offer(event)


async def overflow_then_take(queue_type: type[EventQueue]) -> list[dict[str, Any]]:
    """Ten events into a queue of four, then the consumer takes one; what the
    queue holds afterwards, with no event written since."""
    store = AsyncStore(event_queue_size=4)
    store.start_processing()
    queue = store.subscribe_events(_queue_type=queue_type)
    for n in range(1, 11):
        await store.dispatch_and_wait(set_state("n", n))
    await store.stop_processing()
    assert queue.dropped == 6
    assert (await queue.get())["revision"] == 1
    return drain(queue)


async def burst(
    actions: int,
    *,
    queue_size: int,
    consumer_pause: float,
    yield_between_actions: bool = True,
) -> tuple[list[dict[str, Any]], EventQueue]:
    """``actions`` SET_STATE actions dispatched at once (no await between them
    yields), one consumer taking each event as it comes, pausing ``consumer_pause``
    seconds after each; everything the consumer received, and its queue."""
    store = AsyncStore(
        event_queue_size=queue_size, _yield_between_actions=yield_between_actions
    )
    store.start_processing()
    queue = store.subscribe_events()
    received: list[dict[str, Any]] = []

    async def consume() -> None:
        while True:
            received.append(await queue.get())
            if consumer_pause:
                await asyncio.sleep(consumer_pause)

    consumer = asyncio.create_task(consume())
    for n in range(1, actions + 1):
        await store.dispatch(set_state(f"k{n % 50}", n))
    await store.stop_processing()
    await asyncio.sleep(0)  # the last commit's event reaches the queue
    async with asyncio.timeout(30):
        while not queue.empty():
            await asyncio.sleep(0.001)
    consumer.cancel()
    assert len(store.history()) == actions + 1
    return received, queue


def accounted(received: list[dict[str, Any]], actions: int) -> list[int]:
    """Every revision 1..actions, each once: received, or told by a notice."""
    numbers: list[int] = []
    for event in received:
        if event["type"] == "EVENTS_DROPPED":
            gap = range(event["first_revision"], event["last_revision"] + 1)
            assert len(gap) == event["count"]
            numbers.extend(gap)
        else:
            numbers.append(event["revision"])
    assert numbers == list(range(1, actions + 1))
    return numbers


class TestBursts:
    """Issue 9, defect 8: a burst of actions and a bounded event queue."""

    @pytest.mark.asyncio
    async def test_the_gap_is_told_as_soon_as_there_is_room(self) -> None:
        """Taking one event from a full queue that dropped six puts the
        EVENTS_DROPPED notice in at once, after the events already queued: the
        consumer learns of the gap without waiting for another write."""
        assert await overflow_then_take(EventQueue) == [
            {"type": "STATE_CHANGED", "path": "n", "old_value": n - 1,
             "new_value": n, "revision": n, "action_source": set_state("n", n)}
            for n in (2, 3, 4)
        ] + [
            {"type": "EVENTS_DROPPED", "count": 6, "first_revision": 5,
             "last_revision": 10},
        ]  # fmt: skip

    @pytest.mark.asyncio
    async def test_teeth_a_notice_that_waits_for_the_next_event(self) -> None:
        """Teeth: with the notice sent only along with the next event, the same
        check finds no notice."""
        held = await overflow_then_take(_NoticeWithTheNextEvent)
        assert [e["type"] for e in held] == ["STATE_CHANGED"] * 3

    @pytest.mark.asyncio
    async def test_drops_while_the_notice_waits_join_it(self) -> None:
        """Events dropped while the notice is still the newest in the queue are
        added to it: one notice per gap, not one per event."""
        store = AsyncStore(event_queue_size=2)
        queue = store.subscribe_events()
        for n in range(1, 6):  # 1, 2 queued; 3, 4, 5 dropped
            store.set("n", n)
        await asyncio.sleep(0)
        assert queue.get_nowait()["revision"] == 1  # room: the notice goes in
        for n in range(6, 9):  # the queue is full again: they join the notice
            store.set("n", n)
        await asyncio.sleep(0)
        assert [e.get("revision", e.get("count")) for e in drain(queue)] == [2, 6]
        assert queue.dropped == 6
        store.set("n", 9)
        await asyncio.sleep(0)
        assert queue.get_nowait()["revision"] == 9

    @pytest.mark.asyncio
    async def test_an_instant_consumer_keeps_up_with_a_burst(self) -> None:
        """1,000 actions dispatched at once, a queue of 100, a consumer that takes
        each event as it comes: it receives all 1,000, none dropped (the processor
        gives the loop a turn between actions)."""
        actions = scaled(1000)
        received, queue = await burst(actions, queue_size=100, consumer_pause=0)
        record("S9-burst", actions=actions, queue_size=100, dropped=queue.dropped)
        assert queue.dropped == 0
        assert [e["revision"] for e in received] == list(range(1, actions + 1))

    @pytest.mark.asyncio
    async def test_teeth_a_processor_that_never_yields(self) -> None:
        """Teeth: without the turn between actions, the same consumer loses about
        90% of the burst."""
        received, queue = await burst(
            1000, queue_size=100, consumer_pause=0, yield_between_actions=False
        )
        record("S9-burst-teeth", actions=1000, queue_size=100, dropped=queue.dropped)
        assert queue.dropped >= 800
        accounted(received, 1000)  # told, at least

    @pytest.mark.asyncio
    async def test_a_slow_consumer_is_told_every_gap(self) -> None:
        """A consumer slower than the writer loses events, and EVENTS_DROPPED
        notices account for every one: received and told together are revisions
        1..1,000, each once, in order."""
        received, queue = await burst(1000, queue_size=100, consumer_pause=0.0005)
        notices = [e for e in received if e["type"] == "EVENTS_DROPPED"]
        accounted(received, 1000)
        assert queue.dropped == sum(e["count"] for e in notices) > 0


class TestReducersAndMiddleware:
    @pytest.mark.asyncio
    async def test_a_reducer_is_one_revision_per_action(self) -> None:
        """A reducer's writes for one action are one revision, with the action
        noted in it and in the event."""
        store = AsyncStore(initial_state={"count": 0, "log": []})

        @store.reducer("INCREMENT")
        def increment(tx: Transaction, action: Any) -> None:
            tx.set("count", tx.get("count") + action["by"])
            tx.set("log", [*tx.get("log"), action["by"]])

        store.start_processing()
        queue = store.subscribe_events()
        rev = await store.dispatch_and_wait({"type": "INCREMENT", "by": 2})
        await store.dispatch_and_wait({"type": "INCREMENT", "by": 3})
        await store.stop_processing()
        assert rev is not None
        assert rev.number == 1
        assert rev.extra == {"op": "action", "action": {"type": "INCREMENT", "by": 2}}
        assert store.get_current_state() == {"count": 5, "log": [2, 3]}
        events = drain(queue)
        assert [(e["path"], e["revision"]) for e in events] == [("", 1), ("", 2)]
        assert events[1]["action_source"] == {"type": "INCREMENT", "by": 3}

    @pytest.mark.asyncio
    async def test_a_failing_reducer_leaves_no_trace(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A reducer that raises records nothing: dispatch_and_wait raises it,
        dispatch logs it, and the processor goes on."""
        store = AsyncStore()

        @store.reducer("HALF")
        def half(tx: Transaction, action: Any) -> None:
            tx.set("first", 1)
            raise RuntimeError("reducer bug")

        store.start_processing()
        with pytest.raises(RuntimeError, match="reducer bug"):
            await store.dispatch_and_wait({"type": "HALF"})
        with caplog.at_level(logging.ERROR):
            await store.dispatch({"type": "HALF"})
            assert await store.dispatch_and_wait(set_state("ok", 1)) is not None
        await store.stop_processing()
        assert store.get_current_state() == {"ok": 1}
        assert "reducer bug" in caplog.text

    def test_reducer_registration_rules(self) -> None:
        """Reducers are plain functions; SET_STATE cannot be replaced; the
        decorator returns the function."""
        store = AsyncStore()

        async def coroutine(tx: Transaction, action: Any) -> None:
            return None

        with pytest.raises(TypeError, match="plain function"):
            store.reducer("X", coroutine)
        with pytest.raises(ValueError, match="built in"):
            store.reducer("SET_STATE")

        def noop(tx: Transaction, action: Any) -> None:
            return None

        assert store.reducer("Y", noop) is noop
        with pytest.raises(TypeError, match="callable"):
            store.middleware("nope")  # type: ignore[arg-type]

    @pytest.mark.asyncio
    async def test_middleware_sees_every_action_first(self) -> None:
        """Middleware (sync or async) sees each action before the reducer, can
        replace it or drop it (None)."""
        store = AsyncStore()
        seen: list[Any] = []

        @store.middleware
        def record(action: Any) -> Any:
            seen.append(action["type"])
            return action

        @store.middleware
        async def rename(action: Any) -> Any:
            await asyncio.sleep(0)
            if action.get("path") == "secret":
                return None
            if action["type"] == "SET_STATE":
                return {**action, "path": "seen." + action["path"]}
            return action

        @store.middleware
        def broken(action: Any) -> Any:
            return (
                ["not", "an", "action"] if action.get("path") == "seen.bad" else action
            )

        store.start_processing()
        with pytest.raises(TypeError, match="not an action"):
            await store.dispatch_and_wait(set_state("bad", 1))
        assert await store.dispatch_and_wait(set_state("secret", 1)) is None
        rev = await store.dispatch_and_wait(set_state("a", 1))
        assert await store.dispatch_and_wait({"type": "UNKNOWN"}) is None
        await store.stop_processing()
        assert seen == ["SET_STATE", "SET_STATE", "SET_STATE", "UNKNOWN"]
        assert store.get_current_state() == {"seen": {"a": 1}}
        assert rev is not None
        assert rev.extra["action"] == set_state("seen.a", 1)

    @pytest.mark.asyncio
    async def test_validators_reject_actions(self) -> None:
        """A store validator's exception reaches dispatch_and_wait; nothing is
        recorded."""
        store = AsyncStore()

        def no_negative(state: Any) -> None:
            if state.get("n", 0) < 0:
                raise ValueError("negative")

        store.add_validator(no_negative)
        store.start_processing()
        with pytest.raises(ValueError, match="negative"):
            await store.dispatch_and_wait(set_state("n", -1))
        await store.stop_processing()
        assert len(store.history()) == 1


class TestDispatching:
    @pytest.mark.asyncio
    async def test_dispatch_and_wait_returns_the_revision(self) -> None:
        """dispatch_and_wait gives the revision the action recorded."""
        store = AsyncStore()
        store.start_processing()
        rev = await store.dispatch_and_wait(set_state("a", 1))
        await store.stop_processing()
        assert rev == store.head
        assert rev.extra == {"op": "set", "path": "a", "action": set_state("a", 1)}

    @pytest.mark.asyncio
    async def test_dispatch_and_wait_needs_the_processor(self) -> None:
        """Without a running processor, dispatch_and_wait raises at once."""
        with pytest.raises(RuntimeError, match="start_processing"):
            await AsyncStore().dispatch_and_wait(set_state("a", 1))

    @pytest.mark.asyncio
    async def test_stop_applies_what_was_queued(self) -> None:
        """stop_processing() returns after every dispatched action is applied."""
        store = AsyncStore()
        for n in range(scaled(200)):
            await store.dispatch(set_state(f"k{n}", n))
        store.start_processing()
        await store.stop_processing()
        assert len(store.get_current_state()) == scaled(200)
        await store.stop_processing()  # stopping again does nothing

    @pytest.mark.asyncio
    async def test_start_twice_warns(self, caplog: pytest.LogCaptureFixture) -> None:
        """A second start_processing() while running logs and changes nothing."""
        store = AsyncStore()
        store.start_processing()
        with caplog.at_level(logging.WARNING):
            store.start_processing()
        assert "already running" in caplog.text
        await store.stop_processing()
        store.start_processing()
        assert store.is_processing
        await store.stop_processing()

    @pytest.mark.asyncio
    async def test_origin_and_context_are_the_dispatchers(self) -> None:
        """The revision's origin is the dispatching line and task; the context's
        author and comment at dispatch time are recorded."""
        store = AsyncStore()
        store.start_processing()
        with statetrail.context(author="alice", comment="user pressed dark"):
            await store.dispatch(set_state("theme", "dark"))
            line = here() - 1
        rev = await store.dispatch_and_wait(set_state("theme", "light"))
        wait_line = here() - 1
        await store.stop_processing()
        first = store.history()[1]
        assert (first.author, first.comment) == ("alice", "user pressed dark")
        assert first.origin is not None
        assert (first.origin.file, first.origin.line) == (__file__, line)
        assert first.origin.task == asyncio.current_task().get_name()  # type: ignore[union-attr]
        assert rev is not None
        assert rev.origin is not None
        assert (rev.origin.line, rev.author) == (wait_line, None)

    @pytest.mark.asyncio
    async def test_no_origin_when_capture_is_off(self) -> None:
        """With origin capture off, actions record no origin."""
        statetrail.set_origin_capture(False)
        store = AsyncStore()
        store.start_processing()
        rev = await store.dispatch_and_wait(set_state("a", 1))
        await store.stop_processing()
        assert rev is not None
        assert rev.origin is None

    @pytest.mark.asyncio
    async def test_load_origin_is_the_callers_line(self, tmp_path: Path) -> None:
        """load_initial_state records the awaiting line."""
        initial = tmp_path / "i.json"
        initial.write_text('{"a": 1}')
        store = AsyncStore(initial)
        await store.load_initial_state()
        line = here() - 1
        assert store.head.origin is not None
        assert store.head.origin.line == line

    @pytest.mark.asyncio
    async def test_cancellation_while_an_action_is_applied(self) -> None:
        """stop_processing() cancelled while it waits raises CancelledError, and
        the processor still applies the queued action before it stops; a
        processor cancelled in the middle of an action cancels that action's
        waiter instead of leaving it hanging."""
        store = AsyncStore()
        gate = asyncio.Event()

        @store.middleware
        async def wait_for_gate(action: Any) -> Any:
            await gate.wait()
            return action

        store.start_processing()
        first = asyncio.create_task(store.dispatch_and_wait(set_state("a", 1)))
        stopping = asyncio.create_task(store.stop_processing())
        await asyncio.sleep(0.01)
        stopping.cancel()
        with pytest.raises(asyncio.CancelledError):
            await stopping
        assert store.is_processing
        gate.set()
        assert (await first) is not None
        await asyncio.sleep(0)
        assert not store.is_processing
        gate.clear()
        store.start_processing()
        second = asyncio.create_task(store.dispatch_and_wait(set_state("b", 2)))
        await asyncio.sleep(0.01)
        assert store._task is not None
        store._task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await second
        assert not store.is_processing
        assert store.get_current_state() == {"a": 1}
        await store.stop_processing()

    @pytest.mark.asyncio
    async def test_cancelled_dispatchers_leave_no_partial_revision(self) -> None:
        """Many tasks, some cancelled while waiting: every queued action is
        applied whole (a reducer's two writes together), and the store stays
        usable."""
        store = AsyncStore(initial_state={"a": 0, "b": 0})

        @store.reducer("PAIR")
        def pair(tx: Transaction, action: Any) -> None:
            tx.set("a", tx.get("a") + 1)
            tx.set("b", tx.get("b") + 1)

        store.start_processing()
        rng = random.Random(7)

        async def worker() -> None:
            for _ in range(20):
                await store.dispatch_and_wait({"type": "PAIR"})

        tasks = [asyncio.create_task(worker()) for _ in range(scaled(100))]
        await asyncio.sleep(0)
        for task in rng.sample(tasks, len(tasks) // 10):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await store.stop_processing()
        state = store.get_current_state()
        assert state["a"] == state["b"] == len(store.history()) - 1
        assert all(r.value["a"] == r.value["b"] for r in store.history())
        assert store.set("probe", 1) is True


class TestSharedApi:
    @pytest.mark.asyncio
    async def test_history_blame_and_diff(self) -> None:
        """The history API is Store's."""
        store = AsyncStore(initial_state={"user": {"theme": "light"}})
        store.start_processing()
        await store.dispatch_and_wait(set_state("user.theme", "dark"))
        await store.dispatch_and_wait(set_state("job", 1))
        await store.stop_processing()
        assert [r.number for r in store.history("user.theme")] == [1]
        assert store.blame("job") == store.head
        assert sorted(c.dotted for c in store.diff(0)) == ["job", "user.theme"]
        assert store.at(0) == {"user": {"theme": "light"}}
        store.rollback(0)
        assert store.get_current_state() == {"user": {"theme": "light"}}

    @pytest.mark.asyncio
    async def test_a_transaction_that_awaits_holds_back_the_processor(self) -> None:
        """A transaction open in one task across an await: the processor waits
        for it, then applies the queued action after its revision."""
        store = AsyncStore()
        store.start_processing()
        await store.dispatch(set_state("queued", 1))
        with store.transaction(comment="batch"):
            store.set("a", 1)
            await asyncio.sleep(0.01)
            store.set("b", 2)
        await store.stop_processing()
        assert [r.comment for r in store.history()] == [None, "batch", None]
        assert store.get_current_state() == {"queued": 1, "a": 1, "b": 2}
