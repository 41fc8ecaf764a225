"""Store and AsyncStore: a central state addressed by dot-paths, with its history.

:class:`Store` is synchronous; :class:`AsyncStore` is driven by an asyncio action
queue, Redux-style, and hands each subscriber its own event queue. Both are thin
faces over one :class:`~statetrail.Timeline` (see ``_store_core``): every change is
a revision with its time, author, comment and line of code, and the state is a
frozen tree, so a write copies only the path it touches.

An event is roz-remembers' (``type``, ``path``, ``old_value``, ``new_value``, and
``action_source`` from :class:`AsyncStore`) plus the ``revision`` number;
:mod:`statetrail.compat.roz_remembers` hands out exactly roz-remembers' keys.

>>> from statetrail.store import Store
>>> store = Store({"job": {"bins": 10, "sorted": 0}})
>>> store.set("job.sorted", 1)
True
>>> store.set("machine.state", "CARD_READY")
True
>>> store.get("job.missing", default=0)
0
>>> [rev.number for rev in store.history("job")]
[1]
>>> store.blame("machine.state").number
2
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, overload

from statetrail._intercept import Interceptor
from statetrail._log import get_logger
from statetrail._merge import Resolver
from statetrail._store_core import S, State, StoreBase, capture, root_of
from statetrail._store_events import (
    EVENT_TYPE_EVENTS_DROPPED,
    EVENT_TYPE_STATE_CHANGED,
    Event,
)
from statetrail._store_file import read_state
from statetrail._store_transaction import Transaction
from statetrail._store_values import freeze_checked
from statetrail.context import Metadata, RawOrigin, current_context, running_loop
from statetrail.frozen import FrozenDict, freeze
from statetrail.frozen._dict import dict_of
from statetrail.paths import (
    MAX_PATH_DEPTH,
    STORE,
    get_nested_value,
    parse_path,
    set_frozen,
    set_nested_value,
)
from statetrail.revision import Revision
from statetrail.timeline import Timeline

if TYPE_CHECKING:
    import asyncio

    from statetrail._store_queue import EventQueue

__all__ = [
    "EVENT_TYPE_EVENTS_DROPPED",
    "EVENT_TYPE_STATE_CHANGED",
    "MAX_PATH_DEPTH",
    "AsyncStore",
    "EventQueue",
    "Store",
    "Transaction",
    "get_nested_value",
    "set_nested_value",
]

logger = get_logger("statetrail.store")

Action = Mapping[str, Any]
Reducer = Callable[[Transaction, Action], object]
Middleware = Callable[[Action], "Action | Awaitable[Action | None] | None"]
R = TypeVar("R", bound=Reducer)
M = TypeVar("M", bound=Middleware)


class Store(StoreBase[S]):
    """A synchronous, observable state with dot-path access and a full history.

    Args:
        initial_state: The first state (a dict with string keys); also the state
            used when ``state_file`` does not exist yet or cannot be read.
        state_file: A JSON file to start from; :meth:`save` writes the state
            back to it, as plain JSON. The history is not kept in it: for history
            that survives a restart, use ``statetrail.open(path).store(name)``.
        name: A name for the history, for messages and storage.
        interceptors: Callables given every new state (frozen) that return the
            state to record; every write passes them, transactions too.
        schema: A pydantic model or a type the state is validated and converted
            against on every write (a model is kept as its dict).

    Every successful :meth:`set` records a revision; :meth:`history`,
    :meth:`blame`, :meth:`diff`, :meth:`at` and :meth:`rollback` read and use
    them. It is safe to use from many threads.
    """

    def merge(
        self,
        branch: str,
        *,
        resolve: str | Resolver | None = None,
        author: str | None = None,
        comment: str | None = None,
        label: str | None = None,
    ) -> Revision:
        """Merge the newest revision of ``branch`` into the store's branch.

        One new revision of kind ``"merge"`` with two parents, whose state has
        both branches' changes; subscribers get its event, validators see the
        merged state first. Conflicting changes raise
        :class:`~statetrail.MergeConflictError` (nothing is recorded) unless
        ``resolve`` is ``"ours"``, ``"theirs"`` or a callable given each
        conflict. See :meth:`Timeline.merge <statetrail.Timeline.merge>`.

        >>> store = Store({"job": {"bins": 10, "sorted": 0}})
        >>> _ = store.branch("sorter")
        >>> store.set("job.sorted", 1)
        True
        >>> _ = store.switch("main")
        >>> store.set("job.bins", 9)
        True
        >>> store.merge("sorter").kind, store.get("job")
        ('merge', FrozenDict({'bins': 9, 'sorted': 1}))
        """
        return self._timeline.merge(
            branch,
            resolve=resolve,
            author=author,
            comment=comment,
            label=label,
            _depth=2,
        )


_STOP: Any = object()


class AsyncStore(StoreBase[S]):
    """An asyncio store: actions go in through a queue, events come out on queues.

    Args:
        initial_state_file_path: The JSON file :meth:`load_initial_state` reads,
            and :meth:`save` writes when given no path.
        initial_state: The state before loading, and when the file is missing or
            malformed.
        event_queue_size: The bound of each :meth:`subscribe_events` queue
            (``0``: unbounded).
        name: A name for the history.
        interceptors, schema: As :class:`Store`'s; actions' writes pass them.

    Actions are dicts with a ``type``. ``SET_STATE`` actions (with ``path`` and
    ``value``) are built in; :meth:`reducer` adds others and :meth:`middleware`
    sees every action first. Actions are applied one at a time, in order, by the
    task :meth:`start_processing` starts; each applied action is one revision
    whose origin is the line that dispatched it. The history, blame, transaction
    and synchronous methods are :class:`Store`'s.

    >>> import asyncio
    >>> async def main():
    ...     store = AsyncStore()
    ...     store.start_processing()
    ...     events = store.subscribe_events()
    ...     action = {"type": "SET_STATE", "path": "user.theme", "value": "dark"}
    ...     await store.dispatch(action)
    ...     event = await events.get()
    ...     await store.stop_processing()
    ...     return event["path"], event["new_value"]
    >>> asyncio.run(main())
    ('user.theme', 'dark')
    """

    ACTION_TYPE_SET_STATE = "SET_STATE"
    EVENT_TYPE_STATE_CHANGED = EVENT_TYPE_STATE_CHANGED
    EVENT_TYPE_EVENTS_DROPPED = EVENT_TYPE_EVENTS_DROPPED
    #: The default bound of a subscriber's event queue.
    EVENT_QUEUE_SIZE = 10_000

    def __init__(
        self,
        initial_state_file_path: str | os.PathLike[str] | None = None,
        *,
        initial_state: S | None = None,
        event_queue_size: int | None = None,
        name: str = "",
        interceptors: Iterable[Interceptor] = (),
        schema: Any = None,
        _timeline: Timeline[State] | None = None,
        _yield_between_actions: bool = True,
    ) -> None:
        import asyncio  # here: import statetrail and Store stay without asyncio

        super().__init__(
            initial_state,
            name=name,
            interceptors=interceptors,
            schema=schema,
            _timeline=_timeline,
        )
        # A test seam: False is the broken processor that starves consumers.
        self._yield_between_actions = _yield_between_actions
        self._initial_state_file_path = (
            None
            if initial_state_file_path is None
            else os.fspath(initial_state_file_path)
        )
        # save() with no path writes back to the file the state was loaded from.
        self._state_file = self._initial_state_file_path
        self._queue_size = (
            self.EVENT_QUEUE_SIZE if event_queue_size is None else event_queue_size
        )
        if self._queue_size == 1 or self._queue_size < 0:
            raise ValueError("an event queue holds at least 2 events (0: unbounded)")
        self._actions: asyncio.Queue[Any] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._reducers: dict[str, Reducer] = {}
        self._middleware: list[Middleware] = []

    def _event(self, rev: Revision) -> Event:
        event = super()._event(rev)
        extra = rev.extra
        action = extra.get("action") if isinstance(extra, FrozenDict) else None
        event["action_source"] = self._out(action)
        return event

    # -- loading -----------------------------------------------------------------------

    async def load_initial_state(self) -> None:
        """Replace the state with the initial state file's, as one revision.

        A missing or malformed file (copied aside first) gives the initial state,
        with a warning; nothing is recorded when that is the state already.
        """
        import asyncio

        origin = capture(1)
        path = self._initial_state_file_path
        if path is None:
            return
        loaded = await asyncio.to_thread(read_state, path)
        root = self._default if loaded is None else root_of(loaded)
        if root == self._timeline.value:
            return
        extra = dict_of({"op": "load", "file": path})
        self._apply(lambda _: root, extra, None, None, None, origin, 1)

    def get_current_state(self) -> S:
        """A plain, mutable deep copy of the whole state."""
        return self.get_state()

    # -- reducers and middleware -------------------------------------------------------

    @overload
    def reducer(self, action_type: str) -> Callable[[R], R]: ...
    @overload
    def reducer(self, action_type: str, fn: R) -> R: ...

    def reducer(self, action_type: str, fn: R | None = None) -> Any:
        """Register ``fn(tx, action)`` to apply actions of ``action_type``.

        ``tx`` is a :class:`Transaction`: the reducer reads and writes the state
        through it (``tx.get``, ``tx.set``, ``tx.delete``), and everything it does
        for one action is one revision, or nothing if it raises. Reducers are
        plain functions (they run while the store is locked). Usable as a
        decorator: ``@store.reducer("INCREMENT")``.
        """
        if action_type == self.ACTION_TYPE_SET_STATE:
            raise ValueError("SET_STATE is built in and cannot be replaced")

        def register(fn: R) -> R:
            import inspect  # here: import statetrail stays without it

            if inspect.iscoroutinefunction(fn) or not callable(fn):
                raise TypeError(f"a reducer is a plain function, not {fn!r}")
            self._reducers[action_type] = fn
            return fn

        return register if fn is None else register(fn)

    def middleware(self, fn: M) -> M:
        """Let ``fn(action)`` see every action, in order, before it is applied.

        ``action`` is frozen; ``fn`` returns the action to apply (the same, or a
        new dict), or ``None`` to drop it. It may be a coroutine function. Usable
        as a decorator.
        """
        if not callable(fn):
            raise TypeError(f"middleware must be callable, not {fn!r}")
        self._middleware.append(fn)
        return fn

    # -- dispatching -------------------------------------------------------------------

    @property
    def is_processing(self) -> bool:
        """Whether the action processor is running."""
        return self._task is not None and not self._task.done()

    def start_processing(self) -> None:
        """Start the task that applies dispatched actions (needs a running loop)."""
        if self.is_processing:
            logger.warning("the action processor is already running")
            return
        import asyncio

        self._task = asyncio.get_running_loop().create_task(self._process())

    async def stop_processing(self) -> None:
        """Apply every action dispatched so far, then stop the processor.

        Cancelling the call stops the waiting, not the stop: the processor still
        ends after the actions queued before it.
        """
        import asyncio

        task = self._task
        if task is None or task.done():
            return
        await self._actions.put(_STOP)
        try:
            # Shielded: our own cancellation must not cancel the processor.
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.cancelled():
                raise  # we were cancelled, not the processor
        self._task = None

    def _pending(
        self, action: Action, origin: RawOrigin | None, done: asyncio.Future[Any] | None
    ) -> tuple[Any, RawOrigin | None, Metadata, asyncio.Future[Any] | None]:
        if not isinstance(action, Mapping):
            raise TypeError(f"an action is a dict, not {type(action).__name__}")
        return freeze(action), origin, current_context(), done

    async def dispatch(self, action: Action) -> None:
        """Queue ``action`` to be applied (once the processor runs).

        The action is copied now, and the line that dispatched it, and the
        :func:`statetrail.context` in force, are kept for its revision.
        """
        await self._actions.put(self._pending(action, capture(1), None))

    async def dispatch_and_wait(self, action: Action) -> Revision | None:
        """Dispatch ``action`` and wait until it is applied; return its revision.

        ``None`` when it changed nothing (dropped by middleware, an unknown type,
        a write that cannot apply, a reducer that changed nothing). An exception
        raised by middleware, a reducer or a validator is raised here. Raises
        :class:`RuntimeError` if the processor is not running.
        """
        if not self.is_processing:
            raise RuntimeError(
                "the action processor is not running: start_processing()"
            )
        import asyncio

        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        await self._actions.put(self._pending(action, capture(1), done))
        result: Revision | None = await done
        return result

    async def _process(self) -> None:
        import asyncio

        actions = self._actions
        while True:
            item = await actions.get()
            try:
                if item is _STOP:
                    return
                action, origin, meta, done = item
                try:
                    rev = await self._handle(action, origin, meta)
                except asyncio.CancelledError:
                    if done is not None:
                        done.cancel()
                    raise
                except Exception as exc:
                    if done is None:
                        logger.exception("action %r failed", dict(action))
                    elif not done.done():
                        done.set_exception(exc)
                else:
                    if done is not None and not done.done():
                        done.set_result(rev)
            finally:
                actions.task_done()
            if self._yield_between_actions and not actions.empty():
                # Give the loop a turn between actions: each commit's events reach
                # the subscribers' queues through callbacks, and consumers must get
                # to run, or a burst of actions fills every queue before anyone
                # reads one (issue 9, defect 8).
                await asyncio.sleep(0)

    async def _handle(
        self, action: Action, origin: RawOrigin | None, meta: Metadata
    ) -> Revision | None:
        import inspect

        for fn in list(self._middleware):
            result = fn(action)
            if inspect.isawaitable(result):
                result = await result
            if result is None:
                logger.info("action %r dropped by middleware %r", dict(action), fn)
                return None
            if not isinstance(result, Mapping):
                raise TypeError(
                    f"middleware {fn!r} returned a {type(result).__name__}, "
                    "not an action (a dict) or None"
                )
            action = freeze(result)
        await self._no_transaction_here()
        kind = action.get("type")
        label, author, comment = meta.label, meta.author, meta.comment
        if kind == self.ACTION_TYPE_SET_STATE:
            path = action.get("path")
            if path is None:
                logger.warning("SET_STATE action without a path: %r", dict(action))
                return None
            if not isinstance(path, str):
                logger.warning("SET_STATE action with a path that is not a string")
                return None
            extra = dict_of({"op": "set", "path": path, "action": action})
            return self._set_path(
                path, action.get("value"), extra, label, author, comment, origin, 1
            )
        reducer = self._reducers.get(kind) if isinstance(kind, str) else None
        if reducer is None:
            logger.warning("unknown action type %r: %r", kind, dict(action))
            return None
        extra = dict_of({"op": "action", "action": action})
        with self._transaction(label, author, comment, extra, origin) as tx:
            reducer(tx, action)
        return tx.revision

    def reduce(self, state: Mapping[str, Any], action: Any) -> State:
        """The state this store's reducers make of ``action`` on ``state``.

        Records nothing: a pure function of its arguments, for tests and for
        :func:`statetrail.replay` (``replay(recording, store.reduce)``), which
        passes a :class:`~statetrail.replaying.Step`: its ``action``, or, for a
        revision no action made, its recorded changes. Middleware does not run
        (a recorded action is the one middleware let through).
        """
        from statetrail.replaying import Step, apply_step

        if isinstance(action, Step):
            if action.action is None:
                return root_of(apply_step(state, action))
            action = action.action
        root = root_of(state)
        kind = action.get("type")
        if kind == self.ACTION_TYPE_SET_STATE:
            steps = parse_path(action["path"], STORE)
            value = freeze_checked(action.get("value"), len(steps))
            return root_of(set_frozen(root, steps, value, True, STORE))
        reducer = self._reducers.get(kind) if isinstance(kind, str) else None
        if reducer is None:
            raise ValueError(f"no reducer for action type {kind!r}")
        tx = Transaction(root, self._out)
        reducer(tx, action)
        new: State = tx.snapshot()
        return new

    async def merge(
        self,
        branch: str,
        *,
        resolve: str | Resolver | None = None,
        author: str | None = None,
        comment: str | None = None,
        label: str | None = None,
    ) -> Revision:
        """Merge the newest revision of ``branch`` into the store's branch.

        As :meth:`Store.merge`, in turn with the actions: while the processor
        runs, the actions dispatched before the call are applied first. A
        transaction block open in another task of this thread is waited for.
        """
        import asyncio

        if self.is_processing and asyncio.current_task() is not self._task:
            # Not from middleware (the processor itself): it would wait for itself.
            await self._actions.join()
        await self._no_transaction_here()
        return self._timeline.merge(
            branch,
            resolve=resolve,
            author=author,
            comment=comment,
            label=label,
            _depth=2,
        )

    async def _no_transaction_here(self) -> None:
        # A transaction block open in another task of this thread holds the lock
        # while it awaits; writing now would collide with it, so wait for its end.
        import asyncio

        while (tx := self._tx) is not None and tx.opened_on_this_thread():
            await asyncio.sleep(0.001)

    # -- events ------------------------------------------------------------------------

    def subscribe_events(
        self,
        *,
        path: str | None = None,
        maxsize: int | None = None,
        _queue_type: type[EventQueue] | None = None,
    ) -> EventQueue:
        """A new queue that receives every ``STATE_CHANGED`` event, in order.

        Each call gives its own queue, so several consumers each see every event;
        ``queue.unsubscribe()`` stops it. Events carry ``type``, ``path``,
        ``old_value``, ``new_value``, ``revision`` and ``action_source`` (the action
        applied, or ``None`` for a change made otherwise). With ``path``, only the
        sets at or under that path, and the changes above it that reach it,
        arrive. See :class:`EventQueue` for
        what happens when a consumer falls behind. Call it from the event loop
        that reads the queue.
        """
        from statetrail._store_queue import EventQueue  # imports asyncio

        size = self._queue_size if maxsize is None else maxsize
        queue = (_queue_type or EventQueue)(size, running_loop())
        label = f"event queue {id(queue):#x}"
        queue.subscribe(lambda send: self._listen(send, path, label))
        return queue


def __getattr__(name: str) -> Any:
    # PEP 562: EventQueue is an asyncio.Queue, so it is imported when first asked
    # for, and import statetrail (or Store alone) does not import asyncio.
    if name == "EventQueue":
        from statetrail._store_queue import EventQueue

        globals()[name] = EventQueue
        return EventQueue
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
