"""Server-assisted client-side caching: `cpipe.Redis(cache_config=CacheConfig(...))`.

The cache lives in this process, in Python objects: a hit is a dict lookup
plus one atomic load of a word the engine writes (no call into Go, no
socket), done in C on the sync clients (bridge_cache.c's CachedCommand is
their `_cmd` and `_exec`) and in Python on the asyncio ones. The
server tells the engine which keys changed (CLIENT TRACKING, RESP2 REDIRECT
mode, Redis >= 6.0 and valkey); the engine queues them and bumps that word,
and the next lookup drains the queue before it answers. See docs/caching.md
for the guarantees and what happens at each bound.

`CacheConfig` is redis-py's (`redis.cache.CacheConfig` works as is) with
cpipe's extras: `max_bytes`, `tracking_mode` ("default" or "bcast") and
`prefixes` (BCAST mode). `client.get_cache()` returns the `ClientCache`,
which implements redis-py's `CacheInterface` and adds `stats`.
"""
from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from typing import Any, Callable, Iterable, List, Optional, Sequence, Union

import redis.cache as _rc

from ._options import InvalidOptionError

_MISS = object()
_dict_get = dict.get
# The raw (NEVER_DECODE) replies of a decoding client are keyed apart.
_RAW = object()
# What an entry costs besides its reply and keys (dict slots, the entry, the
# index): the byte bound counts it so many tiny entries cannot pass it unseen.
_ENTRY_OVERHEAD = 160
# Commands after which nothing cached can be trusted.
_FLUSHING = frozenset(("FLUSHDB", "FLUSHALL", "SWAPDB", "SELECT", "RESET"))
# Cacheable reads with several keys (or keys after a count): under BCAST with
# prefixes they are cached only if every argument is under a prefix.
_MULTI_KEY = frozenset(("MGET", "EXISTS", "SDIFF", "SINTER", "SUNION", "JSON.MGET", "LCS", "ZDIFF", "ZINTER",
                        "ZUNION", "SINTERCARD", "ZINTERCARD", "XREAD"))

DEFAULT_MAX_BYTES = 64 << 20
TRACKING_MODES = ("default", "bcast")


class CacheConfig(_rc.CacheConfig):
    """redis-py's CacheConfig plus cpipe's bounds and tracking mode.

    max_size: entries kept (redis-py's; LRU eviction beyond it).
    max_bytes: approximate bytes kept (replies, keys and a fixed cost per
      entry); LRU eviction beyond it; a reply larger than it alone is not
      cached.
    tracking_mode: "default" (the server remembers the keys each connection
      read and invalidates those) or "bcast" (the server invalidates every
      change to a key under `prefixes`, read or not: no memory on the
      server per key read, more invalidation traffic).
    prefixes: BCAST mode only: key prefixes (str or bytes) to track; none
      means every key. In BCAST mode only replies whose keys all fall under
      a prefix are cached.
    max_pending_keys: invalidated keys the engine queues before the next
      lookup drains them; past it the queue is dropped and the whole cache
      flushed.
    """

    def __init__(self, max_size: int = _rc.CacheConfig.DEFAULT_MAX_SIZE,
                 cache_class: Any = _rc.CacheConfig.DEFAULT_CACHE_CLASS,
                 eviction_policy: Any = _rc.CacheConfig.DEFAULT_EVICTION_POLICY, *,
                 max_bytes: int = DEFAULT_MAX_BYTES, tracking_mode: str = "default",
                 prefixes: Sequence[Union[str, bytes]] = (), max_pending_keys: int = 1 << 16) -> None:
        super().__init__(max_size=max_size, cache_class=cache_class, eviction_policy=eviction_policy)
        self.max_bytes = max_bytes
        self.tracking_mode = tracking_mode
        self.prefixes = tuple(prefixes)
        self.max_pending_keys = max_pending_keys


class CacheStats:
    """Counters of one ClientCache since it was made (reset_stats() zeroes them); a live view.

    hits, misses: lookups of cacheable reads answered from the cache / sent.
    evictions: entries dropped to stay within max_size or max_bytes.
    invalidations: entries dropped because their key changed (the server's
      invalidation, or this client's own write to it).
    flushes: times the whole cache was dropped (a tracking connection lost,
      FLUSHDB/FLUSHALL, the engine's key queue overflowing, ...).
    not_stored: replies read but not kept: an invalidation of their key
      arrived while they were in flight, tracking was being re-established,
      or the reply alone exceeded max_bytes.
    """

    FIELDS = ("hits", "misses", "evictions", "invalidations", "flushes", "not_stored")

    def __init__(self, state: Any) -> None:
        self._state = state  # hits answered in C are counted there
        self.py_hits = self.misses = self.evictions = self.invalidations = self.flushes = self.not_stored = 0

    @property
    def hits(self) -> int:
        return self._state.hits() + self.py_hits

    def reset(self) -> None:
        self._state.reset_hits()
        self.py_hits = self.misses = self.evictions = self.invalidations = self.flushes = self.not_stored = 0

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.FIELDS}

    def __repr__(self) -> str:
        return "CacheStats(" + ", ".join(f"{k}={v}" for k, v in self.as_dict().items()) + ")"


class _Ticket:
    """A cacheable read in flight: stored only if still alive when its reply is in."""

    __slots__ = ("epoch", "alive")

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch
        self.alive = True


# An entry is a list, so the C hit path (bridge_cache.c CachedCommand) reads it
# without attribute lookups: [value, typed, key, size, redis keys]. typed:
# an argument is an int, so the entry answers only arguments of the same types.
E_VALUE, E_TYPED, E_KEY, E_SIZE, E_RKEYS = range(5)


# The reply types a caller could change in place: RESP2 arrays, RESP3 maps.
_MUTABLE = (list, dict)


def _copy(v: Any) -> Any:
    """A reply as the caller may own it: lists and dicts (RESP3 maps) are
    copied, all the way down; everything else in a reply is immutable."""
    t = type(v)
    if t is list:
        return [_copy(x) if type(x) in _MUTABLE else x for x in v]
    if t is dict:
        return {k: _copy(x) if type(x) in _MUTABLE else x for k, x in v.items()}
    return v


def _sizeof(v: Any) -> int:
    t = type(v)
    if t is bytes or t is str:
        return len(v) + 40
    if t is list:
        return 56 + sum(_sizeof(x) + 8 for x in v)
    return 32


def _redis_keys(args: tuple) -> Optional[tuple]:
    """Every argument after the name as the server sees it, or None when one cannot be keyed.

    An entry is indexed under all of them (not only the true keys): an
    invalidation of a field name that is also a key's name drops a little
    more than needed, never less.
    """
    out = []
    for a in args[1:]:
        t = type(a)
        if t is bytes:
            out.append(a)
        elif t is str:
            out.append(a.encode("utf-8"))
        elif t is int:
            out.append(str(a).encode())
        else:
            return None  # float, bool, memoryview, ...: equal-but-different keys; not cached
    return tuple(out)


def _same_types(a: tuple, b: tuple) -> bool:
    return all(type(x) is type(y) for x, y in zip(a, b))


def check_cache_config(value: Any) -> None:
    """Refuse what cpipe's cache cannot honour, before anything is opened."""
    if not isinstance(value, _rc.CacheConfigurationInterface):
        raise InvalidOptionError(f"cache_config must be a redis.cache.CacheConfig, not {type(value).__name__}")
    cls = value.get_cache_class() if hasattr(value, "get_cache_class") else _rc.DefaultCache
    if cls is not _rc.DefaultCache:
        raise InvalidOptionError(
            f"cache_config with cache_class={getattr(cls, '__name__', cls)!r} is not supported by cpipe: "
            "its cache is cpipe's own (ClientCache); leave cache_class at its default")
    policy = value.get_eviction_policy()
    if policy is not _rc.EvictionPolicy.LRU:
        raise InvalidOptionError(f"cache_config eviction_policy={policy!r} is not supported by cpipe: only LRU")
    max_size = value.get_max_size()
    if type(max_size) is not int or max_size < 1:
        raise InvalidOptionError(f"cache_config max_size must be an int >= 1, not {max_size!r}")
    max_bytes = getattr(value, "max_bytes", DEFAULT_MAX_BYTES)
    if type(max_bytes) is not int or max_bytes < 1:
        raise InvalidOptionError(f"cache_config max_bytes must be an int >= 1, not {max_bytes!r}")
    mode = getattr(value, "tracking_mode", "default")
    if mode not in TRACKING_MODES:
        raise InvalidOptionError(f"cache_config tracking_mode must be one of {TRACKING_MODES}, not {mode!r}")
    prefixes = getattr(value, "prefixes", ())
    if prefixes and mode != "bcast":
        raise InvalidOptionError("cache_config prefixes are for tracking_mode='bcast' only")
    for p in prefixes:
        if not isinstance(p, (str, bytes)) or not p:
            raise InvalidOptionError(f"cache_config prefixes must be non-empty str or bytes, not {p!r}")
    pending = getattr(value, "max_pending_keys", 1 << 16)
    if type(pending) is not int or pending < 1:
        raise InvalidOptionError(f"cache_config max_pending_keys must be an int >= 1, not {pending!r}")


class ClientCache(_rc.CacheInterface):
    """One client's cache (shared by its threads; a Pool's by all its connections).

    Implements redis-py's CacheInterface (get, set, delete_by_redis_keys,
    flush, size, ...) so code written against `client.get_cache()` works;
    entries are keyed by the command's arguments (a tuple) rather than
    redis-py's CacheKey, and `get`/`set` take either.
    """

    def __init__(self, config: Any, native: Any) -> None:
        check_cache_config(config)
        self._config = config
        self.max_size: int = config.get_max_size()
        self.max_bytes: int = getattr(config, "max_bytes", DEFAULT_MAX_BYTES)
        self.bcast = getattr(config, "tracking_mode", "default") == "bcast"
        self.prefixes = tuple(p.encode() if isinstance(p, str) else p for p in getattr(config, "prefixes", ()))
        self._state = native.tracking_state(getattr(config, "max_pending_keys", 1 << 16), 0)
        self._stats = CacheStats(self._state)
        self._events = self._state.events
        self._entries: "OrderedDict[tuple, list]" = OrderedDict()
        self._by_key: dict[bytes, set] = {}
        self._inflight: dict[bytes, list] = {}
        self._bytes = 0
        self._epoch = 0
        self._seen = 0
        self._ready = True
        self._cacheable: dict[Any, bool] = {}
        self._lock = threading.RLock()

    # -- the engine side ----------------------------------------------------

    def tracked_native(self, native: Any) -> Any:
        """`native` whose open() makes every shared handle track for this cache."""
        return _TrackedNative(native, self)

    def _attach(self, handle: int) -> None:
        self._state.attach(handle, self.bcast, self.prefixes)

    def _sync(self) -> None:
        with self._lock:
            self._sync_locked()

    def _sync_locked(self) -> None:
        ev = self._events()
        if ev == self._seen:
            return
        ready, flush, keys = self._state.drain()
        self._ready = ready
        if flush:
            self._flush_locked()
        for k in keys:
            self._invalidate_locked(k)
        # Last: a concurrent hit that saw the old count waits for this drain.
        self._seen = ev
        self._state.set_seen(ev)

    def engine_stats(self) -> dict:
        """The engine's counters: keys the server invalidated, flush events, key-queue overflows."""
        inv, flushes, overflows = self._state.stats()
        return {"invalidated_keys": inv, "flush_events": flushes, "overflows": overflows}

    # -- entries --------------------------------------------------------------

    def _invalidate_locked(self, k: bytes) -> None:
        for t in self._inflight.get(k, ()):
            t.alive = False
        keys = self._by_key.pop(k, None)
        if keys:
            for key in list(keys):
                e = self._entries.pop(key, None)
                if e is not None:
                    self._unindex_locked(e, skip=k)
                    self._stats.invalidations += 1

    def _unindex_locked(self, e: list, skip: Optional[bytes] = None) -> None:
        self._bytes -= e[E_SIZE]
        for rk in e[E_RKEYS]:
            if rk is skip:
                continue
            s = self._by_key.get(rk)
            if s is not None:
                s.discard(e[E_KEY])
                if not s:
                    del self._by_key[rk]

    def _flush_locked(self) -> int:
        n = len(self._entries)
        self._entries.clear()
        self._by_key.clear()
        self._bytes = 0
        self._epoch += 1  # every read in flight is now stale
        self._stats.flushes += 1
        return n

    def _store_locked(self, key: tuple, reply: Any, rkeys: tuple, typed: bool) -> None:
        size = _sizeof(reply) + sum(len(k) + 40 for k in rkeys) + _ENTRY_OVERHEAD
        if size > self.max_bytes:
            self._stats.not_stored += 1
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self._unindex_locked(old)
        self._entries[key] = [_copy(reply), typed, key, size, rkeys]
        self._bytes += size
        for rk in rkeys:
            s = self._by_key.get(rk)
            if s is None:
                self._by_key[rk] = {key}
            else:
                s.add(key)
        while len(self._entries) > self.max_size or self._bytes > self.max_bytes:
            _, e = self._entries.popitem(last=False)
            self._unindex_locked(e)
            self._stats.evictions += 1

    def _covered(self, name: Any, rkeys: tuple) -> bool:
        """BCAST with prefixes: the server reports changes only under them."""
        if not self.bcast or not self.prefixes:
            return True
        name_upper = name.upper() if isinstance(name, str) else bytes(name).decode("utf-8", "replace").upper()
        keys = rkeys if name_upper in _MULTI_KEY else rkeys[:1]
        return all(any(k.startswith(p) for p in self.prefixes) for k in keys)

    def _is_cacheable(self, name: Any) -> bool:
        c = self._cacheable.get(name)
        if c is None:
            upper = name.decode("utf-8", "replace").upper() if isinstance(name, bytes) else str(name).upper()
            c = bool(self._config.is_allowed_to_cache(upper))
            if len(self._cacheable) < 4096:  # command names: a handful; anything else is not remembered
                self._cacheable[name] = c
        return c

    # -- reads and writes through the client -------------------------------------

    def lookup(self, key: tuple) -> Any:
        """The cached reply for key (a copy the caller owns), or _MISS."""
        if self._events() != self._seen:
            self._sync()
        e = self._entries.get(key)
        if e is None or (e[E_TYPED] and not _same_types(e[E_KEY], key)):
            return _MISS
        try:
            self._entries.move_to_end(key)
        except KeyError:  # evicted by another thread just now
            pass
        self._stats.py_hits += 1
        v = e[E_VALUE]
        return _copy(v) if type(v) in _MUTABLE else v

    def begin_read(self, args: tuple) -> Any:
        """Before a cacheable read goes out: its ticket (None: it will not be stored), or _MISS
        when the command is not a cached read at all."""
        if not self._is_cacheable(args[0]):
            return _MISS
        rkeys = _redis_keys(args)
        if rkeys is None or not rkeys or not self._covered(args[0], rkeys):
            return None
        self._stats.misses += 1
        with self._lock:
            self._sync_locked()
            if not self._ready:
                return (None, rkeys)
            t = _Ticket(self._epoch)
            for rk in rkeys:
                lst = self._inflight.get(rk)
                if lst is None:
                    self._inflight[rk] = [t]
                else:
                    lst.append(t)
            return (t, rkeys)

    def end_read(self, key: tuple, args: tuple, ticket: Any, reply: Any) -> None:
        """After the read: store its reply if nothing invalidated it meanwhile (reply _MISS: it failed)."""
        if ticket is None:
            return
        t, rkeys = ticket
        with self._lock:
            self._sync_locked()
            if t is not None:
                for rk in rkeys:
                    lst = self._inflight.get(rk)
                    if lst is not None:
                        for i, x in enumerate(lst):
                            if x is t:
                                del lst[i]
                                break
                        if not lst:
                            del self._inflight[rk]
            if reply is _MISS:
                return
            if t is None or not t.alive or t.epoch != self._epoch:
                self._stats.not_stored += 1
                return
            typed = any(type(a) is int for a in args[1:])
            self._store_locked(key, reply, rkeys, typed)

    def wrote(self, args: tuple) -> None:
        """After a command that is not a cached read: drop what it may have changed.

        The server's invalidation for it comes on another connection and may
        trail this command's reply; dropping the entries here is what makes a
        client read its own writes.
        """
        if not self._entries and not self._inflight:
            return
        name = args[0]
        upper = name.upper() if isinstance(name, str) else name.decode("utf-8", "replace").upper() if isinstance(name, bytes) else ""
        with self._lock:
            if upper in _FLUSHING:
                self._flush_locked()
                return
            for a in args[1:]:
                t = type(a)
                if t is bytes:
                    self._invalidate_locked(a)
                elif t is str:
                    self._invalidate_locked(a.encode("utf-8"))
                elif t is int:
                    self._invalidate_locked(str(a).encode())
                elif t in (bytearray, memoryview):
                    self._invalidate_locked(bytes(a))

    def wrote_many(self, commands: Iterable[Sequence[Any]]) -> None:
        for cmd in commands:
            if cmd:
                self.wrote(tuple(cmd))

    # -- installing on a client ---------------------------------------------------

    def install(self, client: Any) -> None:
        """Route a sync client's primitives through the cache (client._setup calls it)."""
        raw_space = client._encoding is not None
        exec_ = self._cached(client._exec, False)
        # The C hit path (bridge_cache.c): a hit returns without a Python
        # frame; anything else goes to the Python closure.
        client._exec = self._state.command(self._entries, self._entries.move_to_end, None, _copy, exec_)
        client._exec_raw = self._cached(client._exec_raw, raw_space)
        client._exec_many = self._writing_many(client._exec_many)
        client._exec_many_raw = self._writing_many(client._exec_many_raw)
        client.call = client._exec
        client._cmd = self._cached_cmd(client)

    def _cached_cmd(self, client: Any) -> Callable[..., Any]:
        """The hot methods' _cmd (get, hget, hgetall, ...), a hit answered in C with its callback.

        Holds the client weakly (a client must stay collectable) and its
        callback table as it is now: set_response_callback changes it in
        place, which is seen. Anything but a hit runs the class's _cmd
        (retries, then self._exec: the cache's read-through).
        """
        uncached = type(client)._cmd
        ref = weakref.ref(client)

        def fallback(*args: Any) -> Any:
            return uncached(ref(), *args)

        return self._state.command(self._entries, self._entries.move_to_end, client.response_callbacks, _copy,
                                   fallback)

    def _cached(self, exec_: Callable[..., Any], raw: bool) -> Callable[..., Any]:
        entries_get = self._entries.get
        move = self._entries.move_to_end
        events = self._events
        stats = self._stats
        slow = self._read_through

        def cached(*args: Any) -> Any:
            if events() != self._seen:
                self._sync()
            key = (_RAW, *args) if raw else args
            try:
                e = entries_get(key)
            except TypeError:  # an unhashable argument: never cached
                return slow(exec_, args, None)
            if e is not None and (not e[E_TYPED] or _same_types(e[E_KEY], key)):
                try:
                    move(key)
                except KeyError:
                    pass
                stats.py_hits += 1
                v = e[E_VALUE]
                return _copy(v) if type(v) in _MUTABLE else v
            return slow(exec_, args, key)

        return cached

    def _read_through(self, exec_: Callable[..., Any], args: tuple, key: Optional[tuple]) -> Any:
        ticket = self.begin_read(args) if key is not None and args else _MISS
        if ticket is _MISS:
            try:
                return exec_(*args)
            finally:
                if args:
                    self.wrote(args)
        reply: Any = _MISS
        try:
            reply = exec_(*args)
            return reply
        finally:
            self.end_read(key, args, ticket, reply)  # type: ignore[arg-type]

    def _writing_many(self, exec_many: Callable[..., Any]) -> Callable[..., Any]:
        def many(commands: Any) -> Any:
            commands = list(commands)
            try:
                return exec_many(commands)
            finally:
                self.wrote_many(commands)
        return many

    def install_async(self, client: Any) -> None:
        """The asyncio client's primitives through the cache (its _setup calls it)."""
        raw_space = client._encoding is not None
        run, run_raw = client._run, client._run_raw
        client._run = self._cached_async(run, False)
        client._run_raw = self._cached_async(run_raw, raw_space)
        client._run_many = self._writing_many_async(client._run_many)
        client._run_many_raw = self._writing_many_async(client._run_many_raw)

    def _cached_async(self, run: Callable[..., Any], raw: bool) -> Callable[..., Any]:
        lookup = self.lookup

        async def cached(callback: Optional[Callable[[Any], Any]], *args: Any) -> Any:
            key: Optional[tuple] = (_RAW, *args) if raw else args
            try:
                value = lookup(key)  # type: ignore[arg-type]
            except TypeError:
                value, key = _MISS, None
            if value is _MISS:
                ticket = self.begin_read(args) if key is not None and args else _MISS
                if ticket is _MISS:
                    try:
                        value = await run(None, *args)
                    finally:
                        if args:
                            self.wrote(args)
                else:
                    reply: Any = _MISS
                    try:
                        reply = value = await run(None, *args)
                    finally:
                        self.end_read(key, args, ticket, reply)  # type: ignore[arg-type]
            return value if callback is None else callback(value)

        return cached

    def _writing_many_async(self, run_many: Callable[..., Any]) -> Callable[..., Any]:
        async def many(commands: Any) -> Any:
            commands = list(commands)
            try:
                return await run_many(commands)
            finally:
                self.wrote_many(commands)
        return many

    def close(self) -> None:
        self._state.close()
        with self._lock:
            self._flush_locked()

    # -- redis-py's CacheInterface ------------------------------------------

    @property
    def stats(self) -> CacheStats:
        """The counters (a live view), after taking in what the engine has queued."""
        self._sync()
        return self._stats

    @property
    def collection(self) -> OrderedDict:
        return self._entries

    @property
    def config(self) -> Any:
        return self._config

    @property
    def eviction_policy(self) -> Any:
        return self._config.get_eviction_policy().value()

    @property
    def size(self) -> int:
        self._sync()
        return len(self._entries)

    @property
    def bytes(self) -> int:
        """Approximate bytes held (what max_bytes bounds)."""
        self._sync()
        return self._bytes

    @staticmethod
    def _key_of(key: Any) -> tuple:
        if isinstance(key, _rc.CacheKey):
            return tuple(key.redis_args) if key.redis_args else (key.command, *key.redis_keys)
        return tuple(key)

    def get(self, key: Any) -> Any:
        """The cached reply for a CacheKey or an argument tuple ("GET", "k"), or None."""
        v = self.lookup(self._key_of(key))
        return None if v is _MISS else v

    def set(self, entry: Any) -> bool:
        """Caching is the engine's business: replies are stored as they are read."""
        return False

    def delete_by_cache_keys(self, cache_keys: List[Any]) -> List[bool]:
        out = []
        with self._lock:
            for k in cache_keys:
                e = self._entries.pop(self._key_of(k), None)
                if e is not None:
                    self._unindex_locked(e)
                out.append(e is not None)
        return out

    def delete_by_redis_keys(self, redis_keys: List[Any]) -> List[bool]:
        out = []
        with self._lock:
            for k in redis_keys:
                b = k.encode("utf-8") if isinstance(k, str) else bytes(k)
                out.append(b in self._by_key)
                self._invalidate_locked(b)
        return out

    def flush(self) -> int:
        with self._lock:
            n = self._flush_locked()
            self._stats.flushes -= 1  # asked for, not an event
            return n

    def is_cachable(self, key: Any) -> bool:
        name = key.command if isinstance(key, _rc.CacheKey) else key
        return self._is_cacheable(name)

    def reset_stats(self) -> None:
        """Zero the counters (in place: the hit path holds the object)."""
        self._stats.reset()


class _TrackedNative:
    """The native module, whose open() attaches tracking to every shared handle.

    Dedicated (WATCH) handles are not tracked: nothing read there is cached.
    Every function is copied onto the instance, so a call costs what a
    module attribute costs.
    """

    def __init__(self, native: Any, cache: ClientCache) -> None:
        for name in dir(native):
            if not name.startswith("__") and name != "open":
                setattr(self, name, getattr(native, name))
        self._real_open = native.open
        self._real_close = native.close
        self._cache = cache

    def open(self, config: Any) -> int:
        h = self._real_open(config)
        if not config.connect_once:
            try:
                self._cache._attach(h)
            except BaseException:
                self._real_close(h)
                raise
        return h
