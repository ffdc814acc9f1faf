# Types of cpipe._native, the extension module cpipe/bridge.c builds (its
# method table and PyInit__native are the source of truth). Every function
# is positional-only (METH_O / METH_FASTCALL). Handles and queues are the
# engine's integers: a closed or unknown one fails with ConnectionError,
# never a crash. `encoding` None returns bytes, a codec name returns str
# decoded strictly, a (codec, errors) tuple str decoded with those errors.
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence, Union

from ._config import EngineConfig

# What encode.c accepts as one argument of a command (bool is refused at
# run time; the type system cannot tell it from int).
Arg = Union[str, bytes, bytearray, memoryview, int, float]
Encoding = Union[None, str, tuple[str, str]]

CP_CLOSED: int  # engine status: the client or queue was closed
QUEUED: int  # submit*: the request was queued (cpipe._engine.QUEUED)
BLOCKING: int  # submit*: it blocks on the server, so cancel() may close its connection
DEFAULT_MAX_BULK: int  # Redis's proto-max-bulk-len: the longest argument sent by default

def configure(
    error_factory: Callable[[str], BaseException],
    connection_error: type[BaseException],
    timeout_error: type[BaseException],
    authentication_error: type[BaseException],
    protocol_error: type[BaseException],
    data_error: type[BaseException],
    fork_error: type[BaseException],
    /,
) -> None:
    """The exception classes and the error-reply factory the bridge raises with."""

def mark_forked() -> None:
    """Called in a forked child: from now on Go is never called."""

def open(config: EngineConfig, /) -> int:
    """A handle on a client (config.size 1) or pool; connects on first use.
    Reads config's attributes by name: TypeError or ValueError naming one."""

def close(handle: int, /) -> None: ...
def protocol(handle: int, /) -> int:
    """The RESP version the handle's connections speak: 3, 2 (asked for, or
    the server refused HELLO 3), or 0 before the first connect."""
def execute(handle: int, encoding: Encoding, max_bulk: int, /, *command: Arg) -> Any:
    """One command; an error reply raises."""

def execute_many(handle: int, encoding: Encoding, max_bulk: int, commands: Iterable[Sequence[Arg]], /) -> list[Any]:
    """A pipeline in one round trip; error replies are exceptions in place."""

def submit(handle: int, queue: int, tag: int, wait: bool, max_bulk: int, /, *command: Arg) -> Union[int, bytes]:
    """Queue one command for poll(queue): QUEUED|BLOCKING bits, or (wait
    false and it would have to wait) the prepared request, unqueued."""

def submit_many(
    handle: int, queue: int, tag: int, wait: bool, max_bulk: int, commands: Iterable[Sequence[Arg]], /
) -> Union[int, bytes]:
    """submit for a pipeline; its replies arrive as one list."""

def stage(buffer: bytearray, max_bulk: int, /, *command: Arg) -> bool:
    """Encode command onto buffer (DataError leaves it as it was); False: a blocking command, not staged."""

def submit_staged(handle: int, queue: int, tag: int, wait: bool, buffer: bytearray, n: int, /) -> Union[int, bytes]:
    """submit_many for the n commands staged on buffer; their replies arrive as one list."""

class Batch:
    """A pipeline's commands, encoded as they are queued (cpipe.Pipeline)."""
    def __init__(self, max_bulk: int = ..., /) -> None: ...
    def __len__(self) -> int: ...
    def add(self, *command: Arg) -> None:
        """Encode command at the end; DataError leaves the batch as it was."""
    def commands(self) -> list[tuple[Any, ...]]:
        """Each command: its name as queued (a str), its arguments as the bytes encoded."""
    def names(self) -> list[Optional[str]]: ...
    def names_used(self) -> set[Optional[str]]: ...

def execute_batch(handle: int, encoding: Encoding, batch: Batch, multi: bool, /) -> tuple[list[Any], int]:
    """The batch in one round trip (inside MULTI ... EXEC when multi): its
    replies, errors as exceptions in place, and how many are errors."""

def staged_method(name: str, nmin: int, nmax: int, fallback: Callable[..., Any], /) -> Any:
    """A pipeline's hot method in C: stages name + the arguments while the
    pipeline's _stage is set and the call is the plain form, else fallback."""

def client_method(
    name: str, nmin: int, nmax: int, fallback: Callable[..., Any], find_callback: Callable[..., Any],
    cmd: Callable[..., Any], /
) -> Any:
    """A client's hot method in C: its plain form does what cmd (Redis._cmd)
    does (_exec, then the callback), else fallback."""

class FutureCore:
    """The C state of cpipe.futures.CommandFuture (bridge_future.c)."""
    _state: str
    _result: Any
    _exception: Optional[BaseException]
    _condition: Any
    _waiters: list[Any]
    _done_callbacks: list[Any]
    _instance_dict: dict[str, Any]
    def done(self) -> bool: ...
    def running(self) -> bool: ...
    def cancelled(self) -> bool: ...
    def cancel(self) -> bool: ...
    def result(self, timeout: Optional[float] = None) -> Any: ...
    def exception(self, timeout: Optional[float] = None) -> Optional[BaseException]: ...

def configure_futures(cls: type, running: str, finished: str, condition: type,
                      wake: Callable[[Any], None], future: type, /) -> None:
    """Register CommandFuture (FutureCore + Future), Future's states, threading.Condition, futures._wake."""

def resolve(fut: FutureCore, value: Any, /) -> None:
    """Complete fut with a reply, or an exception instance; wakes its waiters and runs its callbacks."""

def resolve_batch(items: list[Any], replies: list[Any], forgotten: Callable[[tuple, BaseException], None], /) -> None:
    """resolve() for each future of a staged batch; a fire_and_forget record hands only an error to forgotten."""

class StageCore:
    """A Stager's lock (a context manager) and staged commands; hset/hget/forget are the C fast path."""
    buf: bytearray
    items: list[Any]
    deferred: list[tuple[int, bytes, list[Any]]]
    held: bool
    slow: Callable[[Any, tuple], bool]
    forget_slow: Callable[[tuple, tuple], None]
    counter: Iterator[int]
    inflight: int
    max_inflight: int
    max_commands: int
    max_bytes: int
    max_bulk: int
    closed: bool
    def __init__(self, max_inflight: int, max_commands: int, max_bytes: int) -> None: ...
    def acquire(self) -> bool: ...
    def release(self) -> None: ...
    def __enter__(self) -> bool: ...
    def __exit__(self, *exc: Any) -> None: ...
    def hset(self, name: Arg, key: Arg, value: Arg) -> Any: ...
    def hget(self, name: Arg, key: Arg) -> Any: ...
    def forget(self, *command: Arg) -> None: ...

def prepare(max_bulk: int, commands: Iterable[Sequence[Arg]], batch: bool, /) -> bytes:
    """Encode and classify now, queue later with submit_prepared."""

def submit_prepared(handle: int, queue: int, tag: int, prepared: bytes, /) -> int:
    """Queue what submit or prepare returned, waiting as needed: QUEUED|BLOCKING bits."""

def poll(
    queue: int, encoding: Union[Encoding, list[Encoding]], timeout: float, /
) -> list[tuple[int, Any]]:
    """Finished submissions as (tag, reply); a list of encodings is indexed
    by the low 4 bits of each tag."""

def outstanding(queue: int, /) -> int: ...
def queue_open(notify_fd: int, /) -> int:
    """A completion queue; with notify_fd >= 0 a byte is written there when
    completions arrive (an event loop's wake-up pipe)."""

def queue_close(queue: int, /) -> None: ...
def cancel(handle: int, queue: int, tag: int, /) -> bool:
    """Abandon a submitted blocking command, closing its connection."""

def encode(*command: Arg) -> bytes:
    """The RESP the engine would send (for tests and tools)."""

# -- pub/sub and MONITOR connections (bridge_pubsub.c, engine/subscriber*.go)

def sub_open(handle: int, max_messages: int, max_bytes: int, monitor: bool, notify_fd: int,
             reconnect_for: float, /) -> int:
    """A subscriber connecting as handle's connections do (RESP2); its queue
    holds max_messages / about max_bytes (0: the engine's defaults).
    notify_fd >= 0 gets a byte when messages arrive after a drain;
    reconnect_for: seconds to keep reconnecting (0: default, < 0: forever).
    Does not connect: the first sub_send (sub_start for MONITOR) does."""

def sub_send(subscriber: int, max_bulk: int, /, *command: Arg) -> None:
    """Write one SUBSCRIBE-family command or PING; replies come through sub_poll."""

def sub_start(subscriber: int, /) -> None:
    """Connect a MONITOR subscriber (its +OK is checked)."""

def sub_poll(subscriber: int, encoding: Encoding, timeout: Optional[float], max: int, dicts: bool, /
             ) -> Optional[list[Any]]:
    """Up to max messages ([] if none within timeout; None: wait until one
    comes), or None once closed; with dicts, published messages come as
    redis-py's message dicts. ConnectionError once the connection is lost for good."""

def sub_stats(subscriber: int, /) -> Optional[tuple[int, int, int]]:
    """(queued messages, queued bytes, reconnects), or None once closed."""

def sub_close(subscriber: int, /) -> None:
    """Close; wakes a sub_poll waiting in any thread."""

# -- Sentinel (bridge_sentinel.c, sentinel_export.go, engine/sentinel*.go)

def sentinel_configure(master_not_found: type[BaseException], slave_not_found: type[BaseException], /) -> None:
    """The classes raised for no master (CP_NO_MASTER) and no replica (CP_NO_REPLICA)."""

def sentinel_open(handles: tuple[int, ...], min_other_sentinels: int, force_master_ip: Optional[str], /) -> int:
    """An engine Sentinel over one open() handle per sentinel, which it takes
    over (closing it closes them); nothing connects yet."""

def sentinel_target(sentinel: int, service_name: str, replica: bool, /) -> int:
    """A resolver for EngineConfig.resolver: the service's master, or its replicas."""

def sentinel_release(resolver: int, /) -> None:
    """Forget a resolver; handles opened with it keep it until closed."""

def sentinel_close(sentinel: int, /) -> None:
    """Stop the +switch-master listener and close the sentinels' connections."""

def sentinel_discover(sentinel: int, service_name: str, replicas: bool, /) -> list[Any]:
    """[ip, port] of the master (MasterNotFoundError if none), or with
    replicas [[ip, port], ...] of those up (maybe empty)."""

# -- Redis Cluster (bridge_cluster.c, cluster_export.go, engine/cluster*.go)

def cluster_configure(cluster_exception: type[BaseException], cross_slot_transaction: type[BaseException],
                      cluster_down: type[BaseException], /) -> None:
    """The classes raised for an unroutable command (keys in several slots,
    keys it cannot tell), a transaction across slots, and no node serving a slot."""

def cluster_open(handle: int, seeds: str, refresh_every: float, replica_reads: int, /) -> int:
    """A cluster router over the startup nodes seeds ("host:port ..."), whose
    nodes are connected with the options of handle (an open() handle, taken
    over and closed); refresh_every > 0 reloads the slot map that often;
    replica_reads: 0 primaries, 1 round robin, 2 round robin replicas, 3 random replica."""

def cluster_execute(cluster: int, encoding: "Encoding", max_bulk: int, node: Optional[str], slot: int, /,
                    *command: "Arg") -> Any:
    """One command, routed by its keys (or run on node "host:port", or on the
    owner of slot >= 0); an error reply raises."""

def cluster_execute_many(cluster: int, encoding: "Encoding", max_bulk: int, transaction: bool,
                         commands: Iterable[Sequence["Arg"]], /) -> list[Any]:
    """A pipeline, each command routed (one reply each), or a transaction on
    the commands' one slot (MULTI's reply, each QUEUED, EXEC's); errors in place."""

def cluster_submit(cluster: int, queue: int, tag: int, max_bulk: int, mode: int, node: Optional[str], slot: int,
                   commands: Iterable[Sequence["Arg"]], /) -> int:
    """cluster_execute (mode 0, one command) or cluster_execute_many (1
    pipeline, 2 transaction) completing into queue; never waits."""

def cluster_nodes(cluster: int, refresh: bool, /) -> list[Any]:
    """[[[host, port, primary, id], ...], [[start, end, node index, ...], ...]]."""

def cluster_close(cluster: int, /) -> None:
    """Stop the periodic refresh and close every node's connections."""

def tracking_state(max_keys: int, max_bytes: int, /) -> "TrackingState":
    """The engine's invalidation queue for one client-side cache (bridge_cache.c):
    at most max_keys keys / max_bytes bytes (0: the engine's defaults)."""

class TrackingState:
    """Not exported by name: made by tracking_state()."""
    def events(self) -> int:
        """The engine's event count: one atomic load, no call into Go."""
    def drain(self) -> tuple[bool, bool, list[bytes]]:
        """(ready, flush, keys) queued since the last drain."""
    def attach(self, handle: int, bcast: bool, prefixes: Sequence[bytes], /) -> None:
        """Track the keys the handle's shared connections read (before its first command)."""
    def stats(self) -> tuple[int, int, int]:
        """(keys the server invalidated, flush events, queue overflows)."""
    def close(self) -> None: ...
    def command(self, entries: dict, move_to_end: Callable[[Any], Any], callbacks: Optional[dict],
                copy: Callable[[Any], Any], fallback: Callable[..., Any], /) -> Callable[..., Any]:
        """A command primitive answering cache hits in C; anything else goes to fallback(*args)."""
    def set_seen(self, count: int, /) -> None: ...
    def hits(self) -> int: ...
    def reset_hits(self) -> None: ...

def bulk_open(handle: int, max_bulk: int, batch: int, batch_bytes: int, max_pending: int, max_pending_bytes: int,
              max_errors: int, keep_replies: bool, blocking: bool,
              lost: Callable[[str, str, int, int, int], BaseException], /) -> "BulkWriter":
    """A bulk connection of its own, connected as the handle's are (bridge_bulk.c, cpipe.bulk)."""

def bulk_command(writer: "BulkWriter", name: str, nmin: int, nmax: int, fallback: Callable[..., Any], /
                 ) -> Callable[..., Any]:
    """A bulk's hot method: nmin..nmax positional arguments (none None) queue NAME + args in C;
    any other call goes to fallback."""

class BulkWriter:
    """Not exported by name: made by bulk_open()."""
    @property
    def names(self) -> Optional[list[Any]]:
        """keep_replies: every command's name, in order (None for raw ones)."""
    def add(self, *command: Arg) -> None:
        """Encode and queue one command; hands a full batch to the engine."""
    def flush(self, wait: bool, /) -> bool:
        """Hand the buffer over; False (nothing changed) when wait is false and it would wait."""
    def send_raw(self, data: Union[bytes, bytearray, memoryview], commands: int, /) -> int:
        """A chunk of pre-encoded requests; the commands it completes."""
    def finish(self) -> None:
        """Hand the buffer over and wait for every reply."""
    def discard(self) -> None:
        """Drop the commands not handed over yet."""
    def stats(self) -> tuple[int, int, int, int, int, int, int, int, int]:
        """(queued, sent, acknowledged, error replies, pending bytes, peak pending bytes,
        buffered commands, buffered bytes, dropped commands)."""
    def take_errors(self) -> list[tuple[int, Optional[tuple[bytes, ...]], BaseException]]: ...
    def take_replies(self, encoding: Encoding, /) -> list[Any]: ...
    def protocol(self) -> int: ...
    def close(self) -> None: ...

def engine_threads() -> tuple[int, int]:
    """(live Python threads that have used the engine, the engine's GOMAXPROCS)."""
