"""Pub/Sub on the engine: `client.pubsub()` of cpipe.Redis and cpipe.Pool.

`PubSub` is a `redis.client.PubSub`: subscribe/psubscribe/ssubscribe with
or without handlers, the `channels`/`patterns`/`shard_channels` dicts,
pending unsubscribes, `handle_message` and its message dicts, `listen()`,
`get_message()` and `run_in_thread()` are redis-py's own. Only the I/O
differs: the connection is an engine Subscriber (cpipe/engine/subscriber.go),
a connection of its own read by a goroutine into a bounded queue, and
redis-py's `parse_response` takes messages from that queue in batches (one
engine call returns up to `batch` messages, kept in a deque).

What the engine adds (and redis-py does not have):

- **A bounded queue.** At most `max_queued_messages` messages and about
  `max_queued_bytes` bytes wait in the engine (0: its defaults, 100,000
  and 64 MiB). When a consumer falls that far behind, the engine stops
  reading the socket: the server then buffers for this client until its
  `client-output-buffer-limit pubsub` (default 32 MB hard, 8 MB for 60 s)
  disconnects it, and the engine reconnects as after any loss.
- **Reconnect and re-subscribe in the engine.** After a connection loss it
  reconnects with backoff (10 ms doubling to 1 s, for `reconnect_timeout`
  seconds, None: until closed), re-subscribes every channel, pattern and
  shard channel, and only then delivers anything of the new connection:
  first the server's confirmations (subscribe messages, as redis-py's own
  re-subscription produces), then a **reconnect notice**, then messages.
  The notice is a message dict `{"type": "reconnect", "pattern": None,
  "channel": None, "data": {...}}` whose data has `cause` (why the
  connection was lost), `down_seconds`, `attempts`, `channels`, `patterns`
  and `shard_channels` (how many were re-subscribed). Messages published
  while the connection was down are lost (Redis pub/sub keeps nothing);
  none after the notice. Like a subscribe message, the notice is not
  returned when `ignore_subscribe_messages` is set (run_in_thread sets it);
  `on_reconnect(notice)` is called with it either way, in the thread that
  reads messages. If reconnecting fails for `reconnect_timeout`, reading
  raises ConnectionError; the next subscribe connects again.

`push_handler_func` is redis-py's: when the client speaks RESP3 (protocol=3,
redis-py 8's default), every pub/sub push frame (subscribe confirmations and
published messages alike) goes to it as the list the server sent, and what
it returns is what get_message()/listen() then handle (None: nothing). The
engine's subscriber speaks RESP2 on the wire; the frames are rebuilt in
redis-py's RESP3 shape (push_frame). Under RESP2 the handler is never called,
as redis-py's RESP2 connection never sees a push frame. PING replies and the
reconnect notice are not push frames and never reach it.
"""
from __future__ import annotations

import collections
import threading
import time
import weakref
from typing import Any, Callable, Iterator, Optional

import redis.client
from redis.utils import str_if_bytes

from . import _engine
from .errors import ConnectionError, DataError

# What a subscriber connection carries (engine/subscriber_conn.go subCommands).
PUBSUB_COMMANDS = frozenset(
    ("SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE", "PING"))
# Messages one engine call returns at most.
DEFAULT_BATCH = 1024
DEFAULT_RECONNECT_TIMEOUT = 30.0


def subscriber_options(max_queued_messages: Any, max_queued_bytes: Any, reconnect_timeout: Any,
                       batch: Any) -> tuple[int, int, float, int]:
    """The engine's arguments, checked (DataError naming the option)."""
    from ._options import integer

    mm = integer("max_queued_messages", max_queued_messages, 0)
    mb = integer("max_queued_bytes", max_queued_bytes, 0)
    b = integer("batch", batch, 1)
    if reconnect_timeout is None:
        rt = -1.0
    elif isinstance(reconnect_timeout, (int, float)) and not isinstance(reconnect_timeout, bool) \
            and 0 < reconnect_timeout < 1e9:
        rt = float(reconnect_timeout)
    else:
        raise DataError(f"reconnect_timeout must be a positive number of seconds or None, not {reconnect_timeout!r}")
    return mm, mb, rt, b


def command_name(args: tuple) -> str:
    """The upper-case name of a pub/sub command, refused (DataError) before anything is sent."""
    if not args:
        raise DataError("a pub/sub command needs a name")
    name = args[0]
    if isinstance(name, bytes):
        name = name.decode("latin-1")
    upper = name.upper() if isinstance(name, str) else ""
    if upper not in PUBSUB_COMMANDS:
        raise DataError(
            f"{name!r} cannot run on a pub/sub connection: it carries only "
            "SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE, their UNSUBSCRIBE twins and PING "
            "(run other commands on the client)")
    return upper


# redis-py 8's pub/sub metric, recorded per received message as its
# handle_message does (redis-py 5 has none).
_record: Any = getattr(redis.client, "record_pubsub_message", None)
_RECEIVE = getattr(getattr(redis.client, "PubSubDirection", None), "RECEIVE", None)


def metrics_enabled() -> bool:
    """Whether redis-py 8's observability is set up; only then does its
    record_pubsub_message record anything. Asked once per batch of messages,
    so a batch is recorded exactly as redis-py records each message, and a
    process without observability pays nothing per message."""
    if _record is None:
        return False
    try:
        from redis.observability.providers import get_observability_instance

        return get_observability_instance().get_provider_manager() is not None
    except Exception:
        return True  # unknown: record, as redis-py would


def as_server_reply(response: Any, encoding: Optional[str]) -> Any:
    """A message dict the bridge built, back as the list the server sent."""
    if type(response) is not dict:
        return response
    kind: Any = response["type"]
    if encoding is None:
        kind = kind.encode()
    if kind in ("pmessage", b"pmessage"):
        return [kind, response["pattern"], response["channel"], response["data"]]
    return [kind, response["channel"], response["data"]]


# The first element of a RESP3 pub/sub push frame (what redis-py's parsers hand
# to push_handler_func); a PING reply is a plain reply under RESP3, not a push.
PUSH_KINDS = frozenset(k for kind in ("message", "pmessage", "smessage", "subscribe", "psubscribe",
                                      "ssubscribe", "unsubscribe", "punsubscribe", "sunsubscribe")
                       for k in (kind, kind.encode()))


def push_frame_class(default_parser: Any) -> Callable[[list], Any]:
    """What redis-py's default parser hands a push handler: hiredis's
    PushNotification (a list subclass) when it reads with hiredis 3.2+,
    else a plain list."""
    try:
        from hiredis import PushNotification  # type: ignore[attr-defined]  # hiredis 3.2+
        from redis._parsers import _AsyncHiredisParser, _HiredisParser
    except ImportError:
        return list
    if isinstance(default_parser, type) and issubclass(default_parser, (_HiredisParser, _AsyncHiredisParser)):
        return PushNotification  # type: ignore[no-any-return]
    return list


def push_frame(response: Any, encoding: Any, frame_class: Callable[[list], Any]) -> Any:
    """The RESP3 push frame redis-py would have read for an engine message,
    or None when it is none (a PING reply, a reconnect notice)."""
    if type(response) is dict:
        frame = as_server_reply(response, encoding)
    elif type(response) is list and response and response[0] in PUSH_KINDS:
        frame = response
    else:
        return None
    return frame if frame_class is list else frame_class(frame)


def resp3_push_handler(client: Any, push_handler_func: Any) -> Any:
    """The handler push frames go to: push_handler_func when the client speaks
    RESP3, None under RESP2 (where redis-py never calls it)."""
    if push_handler_func is None:
        return None
    if not callable(push_handler_func):
        raise DataError(f"push_handler_func must be callable, not {push_handler_func!r}")
    return push_handler_func if getattr(client._config, "protocol", 2) == 3 else None


def reconnect_notice(response: list) -> dict:
    """The message dict of an engine reconnect notice (engine/subscriber_read.go)."""
    cause = response[1]
    if isinstance(cause, bytes):
        cause = cause.decode("utf-8", "replace")
    return {
        "type": "reconnect",
        "pattern": None,
        "channel": None,
        "data": {
            "cause": cause,
            "down_seconds": response[2] / 1000.0,
            "attempts": response[3],
            "channels": response[4],
            "patterns": response[5],
            "shard_channels": response[6],
        },
    }


def is_reconnect_notice(response: Any) -> bool:
    return (type(response) is list and len(response) == 7 and response[0] in (b"reconnect", "reconnect")
            and type(response[2]) is int)


def forget_pending_unsubscribes(ps: Any) -> None:
    """After a reconnect: names with an unsubscribe in flight were not re-subscribed
    (the engine's sets dropped them when the command was sent), so drop them here too,
    as redis-py's on_connect does by re-subscribing only what is left."""
    pairs: Any = ((ps.pending_unsubscribe_channels, ps.channels),
                  (ps.pending_unsubscribe_patterns, ps.patterns),
                  (getattr(ps, "pending_unsubscribe_shard_channels", set()), getattr(ps, "shard_channels", {})))
    for pending, subscribed in pairs:
        for name in pending:
            subscribed.pop(name, None)
        pending.clear()


class EngineSubscriberConnection:
    """What `pubsub.connection` is once subscribed: the engine's subscriber.

    redis-py code looks at `pubsub.connection` (None: not connected yet);
    this stands for the engine connection. `disconnect()` closes it, as
    redis-py's does: the subscriptions are kept, and the next read or
    command connects again and re-subscribes them (redis-py's on_connect).
    """

    def __init__(self, pubsub: Any) -> None:
        self._pubsub = weakref.ref(pubsub)  # the PubSub owns this, not the other way round
        # The client's, as redis-py's connection has it: reads that wait for
        # a message are not bounded by it (redis-py's listen() is not either).
        self.socket_timeout = pubsub._config.socket_timeout or None

    @property
    def is_connected(self) -> bool:
        ps = self._pubsub()
        return ps is not None and bool(ps._sub)

    def disconnect(self, *args: Any, **kwargs: Any) -> None:
        ps = self._pubsub()
        if ps is not None:
            ps._disconnect()

    def __repr__(self) -> str:
        ps = self._pubsub()
        return f"<cpipe engine subscriber {ps._sub if ps is not None else 0}>"


class SyncEngineSubscriberConnection(EngineSubscriberConnection):
    """`pubsub.connection` of a sync PubSub."""

    def can_read(self, timeout: Optional[float] = 0) -> bool:
        """redis-py's: whether a message can be read now, waiting up to
        timeout seconds (None: until one comes) for one to arrive. A message
        that arrives is kept for the next read, not consumed."""
        ps = self._pubsub()
        return ps is not None and ps._can_read(timeout)


def disconnect_pubsubs(client: Any) -> None:
    """A client's close(): its PubSubs' connections close too, as redis-py's
    pool.disconnect() closes theirs; each connects again (re-subscribing) on
    its next use."""
    for ps in list(getattr(client, "_pubsubs", ())):
        try:
            ps._disconnect()
        except Exception:
            pass


class EngineSubscriberState:
    """The engine side of a PubSub, sync or asyncio: the attributes that
    init_engine_state sets (declared here for the type checker)."""

    _native: Any
    _config: Any
    _reply_encoding: Any  # None, a codec name, or (codec, errors)
    _max_bulk: int
    _engine_args: tuple
    _batch: int
    _sub: int
    _metrics: bool
    _disconnected: bool
    _sub_lock: threading.Lock
    _buffer: collections.deque
    _push_handler: Optional[Callable[[Any], Any]]
    _push_frame_class: Callable[[list], Any]
    on_reconnect: Optional[Callable[[dict], Any]]
    reconnects: int

    def _close_subscriber(self) -> None:
        raise NotImplementedError

    def __del__(self) -> None:
        try:
            self._close_subscriber()
        except Exception:
            pass


# pubsub() keywords only the engine's PubSub takes (redis-py's would refuse them).
ENGINE_OPTIONS = ("max_queued_messages", "max_queued_bytes", "reconnect_timeout", "on_reconnect", "batch")


def without_engine_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    """pubsub()'s keywords for redis-py's own PubSub (a forked child has no engine)."""
    return {k: v for k, v in kwargs.items() if k not in ENGINE_OPTIONS}


def init_engine_state(ps: EngineSubscriberState, client: Any, shard_hint: Any, ignore_subscribe_messages: bool, encoder: Any,
                      push_handler_func: Any, event_dispatcher: Any, max_queued_messages: int,
                      max_queued_bytes: int, reconnect_timeout: Optional[float],
                      on_reconnect: Optional[Callable[[dict], Any]], batch: int) -> dict[str, Any]:
    """The engine side of a PubSub, sync or asyncio, set before redis-py's
    __init__ (which calls reset()); returns the keyword arguments for it."""
    if on_reconnect is not None and not callable(on_reconnect):
        raise DataError(f"on_reconnect must be callable, not {on_reconnect!r}")
    mm, mb, rt, b = subscriber_options(max_queued_messages, max_queued_bytes, reconnect_timeout, batch)
    ps._native = client._native
    ps._config = client._config
    ps._reply_encoding = client._encoding
    ps._max_bulk = client._max_bulk
    ps._engine_args = (mm, mb, rt)
    ps._batch = b
    ps._sub = 0
    ps._metrics = False  # redis-py's per-message metric is on (see metrics_enabled)
    ps._disconnected = False  # closed by disconnect(): reconnect on next use
    ps._sub_lock = threading.Lock()
    ps._buffer = collections.deque()
    ps._push_handler = resp3_push_handler(client, push_handler_func)
    ps._push_frame_class = list
    ps.on_reconnect = on_reconnect
    ps.reconnects = 0  # reconnect notices seen
    kwargs: dict[str, Any] = {"shard_hint": shard_hint, "ignore_subscribe_messages": ignore_subscribe_messages,
                              "encoder": encoder, "push_handler_func": push_handler_func}
    if event_dispatcher is not None:
        kwargs["event_dispatcher"] = event_dispatcher  # redis-py 6+
    return kwargs


class PubSub(EngineSubscriberState, redis.client.PubSub):
    """redis-py's PubSub on an engine subscriber connection (see the module docstring).

    Thread-safety is redis-py's: one thread reads messages (get_message,
    listen, or run_in_thread's worker) while others may subscribe,
    unsubscribe or close. Reading holds no lock that those need, and
    close() from another thread wakes a reader blocked in get_message.
    """

    def __init__(self, client: Any, shard_hint: Any = None, ignore_subscribe_messages: bool = False,
                 encoder: Any = None, push_handler_func: Any = None, event_dispatcher: Any = None, *,
                 max_queued_messages: int = 0, max_queued_bytes: int = 0,
                 reconnect_timeout: Optional[float] = DEFAULT_RECONNECT_TIMEOUT,
                 on_reconnect: Optional[Callable[[dict], Any]] = None, batch: int = DEFAULT_BATCH) -> None:
        # Before redis-py's __init__, which calls reset().
        redis_kwargs = init_engine_state(self, client, shard_hint, ignore_subscribe_messages, encoder,
                                         push_handler_func, event_dispatcher, max_queued_messages,
                                         max_queued_bytes, reconnect_timeout, on_reconnect, batch)
        super().__init__(client.connection_pool, **redis_kwargs)
        if self._push_handler is not None:
            import redis.connection

            self._push_frame_class = push_frame_class(redis.connection.DefaultParser)

    # -- the engine connection ------------------------------------------------

    def _subscriber(self) -> int:
        """The engine subscriber, opened on first use (it connects on the first command)."""
        sub = self._sub
        if sub:
            return sub
        if self._disconnected:
            return self._connect_again()
        with self._sub_lock:
            if not self._sub:
                native = self._native
                h = native.open(self._config)  # a handle only to name the server and options; never connects
                try:
                    mm, mb, rt = self._engine_args
                    self._sub = native.sub_open(h, mm, mb, False, -1, rt)
                finally:
                    native.close(h)
                self.connection = SyncEngineSubscriberConnection(self)  # type: ignore[assignment]
            return self._sub

    def _close_subscriber(self) -> None:
        with self._sub_lock:
            sub, self._sub = self._sub, 0
        self._buffer.clear()
        if sub:
            self._native.sub_close(sub)  # wakes a reader blocked in another thread

    def _disconnect(self) -> None:
        """Close the connection but keep the subscriptions: the next read or
        command connects again and re-subscribes (redis-py's disconnect())."""
        if self._sub:
            self._disconnected = True
            self._close_subscriber()

    def _connect_again(self) -> int:
        """After _disconnect: a new connection, re-subscribed by redis-py's on_connect."""
        self._disconnected = False
        sub = self._subscriber()
        self.on_connect(self.connection)
        return sub

    def execute_command(self, *args: Any) -> None:
        """Send a pub/sub command; its confirmation arrives as a message."""
        command_name(args)
        encode = self.encoder.encode  # type: ignore[union-attr]  # set by redis-py's __init__
        wire = [encode(a) for a in args]
        sub = self._subscriber()
        self._native.sub_send(sub, self._max_bulk, *wire)

    def _read(self, block: bool = True, timeout: Optional[float] = 0) -> Any:
        """The next message: a published one as its message dict (the bridge
        builds it as redis-py's handle_message would), anything else as the
        server sent it (a list); None if none came within timeout (block=False)."""
        buf = self._buffer
        if not buf:
            sub = self._sub
            if not sub:
                if not self._disconnected:
                    raise RuntimeError("pubsub connection not set: did you forget to call subscribe() or psubscribe()?")
                sub = self._connect_again()
            batch = self._native.sub_poll(sub, self._reply_encoding, None if block else timeout, self._batch, True)
            if not batch:
                return None  # nothing in time, or closed meanwhile (None)
            buf.extend(batch)
            self._metrics = metrics_enabled()
        response = buf.popleft()
        if isinstance(response, BaseException):
            raise response  # a message that could not be decoded
        return response

    def _can_read(self, timeout: Optional[float]) -> bool:
        """A message in this object's batch, or one taken from the engine
        within timeout into it (connection.can_read)."""
        if self._buffer:
            return True
        sub = self._sub
        if not sub:
            return False
        batch = self._native.sub_poll(sub, self._reply_encoding, timeout, self._batch, True)
        if not batch:
            return False
        self._buffer.extend(batch)
        self._metrics = metrics_enabled()
        return True

    def _pushed(self, response: Any) -> Any:
        """What redis-py's RESP3 parser returns for a message when a push
        handler is set: the handler's result for a push frame (the frame
        itself is consumed), anything else unchanged."""
        frame = push_frame(response, self._reply_encoding, self._push_frame_class)
        if frame is None:
            return response
        return self._push_handler(frame)  # type: ignore[misc]  # only called when set

    def parse_response(self, block: bool = True, timeout: float = 0) -> Any:
        """redis-py's: the next message as the server sent it (a list), or None
        (with a RESP3 push handler: what the handler returned for it)."""
        response = self._read(block, timeout)
        if self._push_handler is not None and response is not None:
            return self._pushed(response)  # never an engine message dict: those are push frames
        return as_server_reply(response, self._reply_encoding)

    def get_message(self, ignore_subscribe_messages: bool = False, timeout: Optional[float] = 0.0) -> Any:
        """redis-py's get_message (the same waits and results), on _read."""
        if not self.subscribed:
            start = time.monotonic()
            if self.subscribed_event.wait(timeout) is True:
                if timeout is not None:
                    timeout = max(0.0, timeout - (time.monotonic() - start))
            else:
                return None
        response = self._read(block=(timeout is None), timeout=timeout)
        if response is not None and self._push_handler is not None:
            response = self._pushed(response)
        if response:
            return self.handle_message(response, ignore_subscribe_messages)
        return None

    get_sharded_message = get_message

    def listen(self) -> Iterator[Any]:
        """redis-py's listen, on _read."""
        read, handle, buf = self._read, self.handle_message, self._buffer
        if self._push_handler is not None:
            pushed = self._pushed
            while self.subscribed:
                response = handle(pushed(read(True)))
                if response is not None:
                    yield response
            return
        while self.subscribed:
            if buf:  # the batch in hand, without _read's call
                response = buf.popleft()
                if isinstance(response, BaseException):
                    raise response
            else:
                response = read(True)
            response = handle(response)
            if response is not None:
                yield response

    def handle_message(self, response: Any, ignore_subscribe_messages: bool = False) -> Any:
        if type(response) is dict:  # a published message
            if not self._metrics and response["type"] == "message":
                # The common case of _handle_published, without its call.
                channels = self.channels
                handler = channels.get(response["channel"]) if channels else None
                if handler:
                    handler(response)
                    return None
                return response
            return self._handle_published(response)
        if is_reconnect_notice(response):
            return self._handle_reconnect(response, ignore_subscribe_messages)
        return super().handle_message(response, ignore_subscribe_messages)

    def _handle_published(self, message: dict) -> Any:
        """The part of redis-py's handle_message for a published message: the
        metric, then its handler (returning None) or the message."""
        kind = message["type"]
        if self._metrics:
            if kind == "smessage":
                _record(direction=_RECEIVE, channel=str_if_bytes(message["channel"]), sharded=True)
            else:
                _record(direction=_RECEIVE, channel=str_if_bytes(message["channel"]))
        if kind == "message":
            handler = self.channels.get(message["channel"]) if self.channels else None
        elif kind == "pmessage":
            handler = self.patterns.get(message["pattern"])
        else:
            handler = self.shard_channels.get(message["channel"])
        if handler:
            handler(message)
            return None
        return message

    def _handle_reconnect(self, response: list, ignore_subscribe_messages: bool) -> Optional[dict]:
        notice = reconnect_notice(response)
        self.reconnects += 1
        forget_pending_unsubscribes(self)
        if not (self.channels or self.patterns or getattr(self, "shard_channels", None)):
            self.subscribed_event.clear()
        if self.on_reconnect is not None:
            self.on_reconnect(notice)
        if ignore_subscribe_messages or self.ignore_subscribe_messages:
            return None
        return notice

    def check_health(self) -> None:
        """The engine watches the connection and reconnects by itself."""

    def clean_health_check_responses(self) -> None:
        """No health-check PINGs are sent: nothing to clean."""

    def queued(self) -> tuple[int, int]:
        """Messages and tape bytes waiting in the engine's queue (plus those in this object's batch)."""
        stats = self._native.sub_stats(self._sub) if self._sub else None
        if stats is None:
            return len(self._buffer), 0
        return stats[0] + len(self._buffer), stats[1]

    def reset(self) -> None:
        """Close the connection and forget every subscription (redis-py's reset)."""
        self._disconnected = False
        self._close_subscriber()
        self.connection = None
        super().reset()


def make_pubsub(client: Any, **kwargs: Any) -> Any:
    """client.pubsub(): cpipe's PubSub, or redis-py's own in a forked child (no engine there)."""
    if getattr(client, "_fallback", None) is not None or _engine.forked_child():
        kwargs = without_engine_options(kwargs)
        return redis.client.PubSub(client.connection_pool, **kwargs)
    return track(client, PubSub(client, **kwargs))


def track(client: Any, ps: Any) -> Any:
    """Remember ps (weakly) on its client, for disconnect_pubsubs."""
    pubsubs = client.__dict__.get("_pubsubs")
    if pubsubs is None:
        pubsubs = client.__dict__.setdefault("_pubsubs", weakref.WeakSet())
    pubsubs.add(ps)
    return ps


__all__ = ["PubSub", "make_pubsub", "ConnectionError"]
