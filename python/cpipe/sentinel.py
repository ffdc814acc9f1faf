"""Redis Sentinel: `cpipe.Sentinel`, a `redis.sentinel.Sentinel` whose clients run on the engine.

    sentinel = cpipe.Sentinel([("127.0.0.1", 26379)], socket_timeout=0.5)
    master = sentinel.master_for("mymaster")      # a cpipe.Redis
    master.set("k", "v")
    replica = sentinel.slave_for("mymaster")      # reads from a replica
    replica.get("k")

The answers are the engine's (cpipe/engine/sentinel*.go), judged as
redis-py judges them: `discover_master` asks the sentinels in order
(SENTINEL MASTER), takes the first usable master (redis-py's
check_master_state, min_other_sentinels, force_master_ip) and asks that
sentinel first next time; `discover_slaves` returns the replicas not down.

A client from `master_for`/`slave_for` does not keep an address: the engine
asks the sentinels before every connect (ROLE must say "master" for a
master client). Its connections move to a new master by themselves:
  * on a READONLY reply (the master was demoted): the connection is failed
    and the command raises ConnectionError("The previous master is now a
    slave ..."), as redis-py's SentinelManagedConnection does; a client made
    with retry= retries it (the server refused to run it);
  * on the loss of the connection: the next connect asks again;
  * on +switch-master, heard on an engine-owned subscription to one of the
    sentinels: every connection to another address than the new master is
    failed at once (its commands in flight raise ConnectionError; none reads
    another's reply), so nothing keeps writing to the demoted master.
A client from `slave_for` tries the replicas round-robin, then the master
(redis-py's rotate_slaves); none reachable is SlaveNotFoundError.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Optional

import redis
import redis.asyncio.sentinel as _async_sentinel
import redis.sentinel as _sentinel

from . import _engine
from .client import EngineClient, Redis
from .errors import DataError


class MasterNotFoundError(_sentinel.MasterNotFoundError, _async_sentinel.MasterNotFoundError):
    """No sentinel names a usable master: redis-py's MasterNotFoundError (either module's)."""


class SlaveNotFoundError(_sentinel.SlaveNotFoundError, _async_sentinel.SlaveNotFoundError):
    """No replica (nor the master) could be connected to: redis-py's SlaveNotFoundError."""


ReplicaNotFoundError = SlaveNotFoundError

# Options that name a server: a Sentinel client's server is named by Sentinel.
_SERVER_OPTIONS = ("host", "port", "unix_socket_path", "connection_pool", "url")
# Options of redis-py's SentinelConnectionPool that mean nothing here: the
# role is the method's, and the engine checks ROLE on every new master connection.
_POOL_OPTIONS = ("is_master", "check_connection")


class SentinelEngine:
    """The engine's Sentinel (one Go object): its own connection to each sentinel."""

    def __init__(self, clients: Iterable[EngineClient], min_other_sentinels: int,
                 force_master_ip: Optional[str]) -> None:
        native = self._native = _engine.native()
        native.sentinel_configure(MasterNotFoundError, SlaveNotFoundError)
        # The sentinels' options as their clients were given them (timeouts,
        # password), on one plain connection each that the engine owns.
        configs = [dataclasses.replace(c._config, size=1, autopipeline=False, connect_once=False)
                   for c in clients]
        self.handle = 0
        self.handle = native.sentinel_open(tuple(native.open(c) for c in configs),
                                           min_other_sentinels, force_master_ip)

    def master(self, service_name: str) -> tuple[str, int]:
        ip, port = self._native.sentinel_discover(self.handle, service_name, False)
        return ip, port

    def replicas(self, service_name: str) -> list[tuple[str, int]]:
        return [(ip, port) for ip, port in self._native.sentinel_discover(self.handle, service_name, True)]

    def __del__(self) -> None:
        if getattr(self, "handle", 0):
            self._native.sentinel_close(self.handle)


class SentinelTarget:
    """A master's or the replicas' resolver, kept by the clients that connect through it."""

    def __init__(self, engine: SentinelEngine, service_name: str, replica: bool) -> None:
        self.engine = engine  # the Sentinel lives as long as a client of it
        self.service_name = service_name
        self.replica = replica
        self.handle = 0
        self.handle = engine._native.sentinel_target(engine.handle, service_name, replica)

    def __del__(self) -> None:
        if getattr(self, "handle", 0):
            self.engine._native.sentinel_release(self.handle)


def check_sentinels(sentinels: Any) -> list[tuple[Any, Any]]:
    """The (host, port) pairs, or a DataError naming the bad one, before anything connects."""
    try:
        pairs = list(sentinels)
    except TypeError:
        raise DataError(f"Sentinel: sentinels must be a list of (host, port) pairs, not {type(sentinels).__name__}") from None
    for pair in pairs:
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise DataError(f"Sentinel: each sentinel must be a (host, port) pair, not {pair!r}")
    return [(host, port) for host, port in pairs]


def check_service_name(service_name: Any) -> str:
    if not isinstance(service_name, str) or not service_name:
        raise DataError(f"Sentinel: the service name must be a non-empty str, not {service_name!r}")
    return service_name


class EngineSentinel:
    """What the sync and asyncio Sentinels share: the sentinels' clients, the engine, client making."""

    # The client class a sentinel connection and master_for use by default.
    _client_class: Any = Redis
    _redis_py_class: Any = redis.Redis
    _native_sentinel: SentinelEngine
    sentinels: list
    connection_kwargs: dict

    def _setup_sentinels(self, sentinels: Any, min_other_sentinels: int, sentinel_kwargs: Optional[dict],
                         force_master_ip: Optional[str], connection_kwargs: dict) -> None:
        pairs = check_sentinels(sentinels)
        if not isinstance(min_other_sentinels, int) or isinstance(min_other_sentinels, bool) or min_other_sentinels < 0:
            raise DataError(f"Sentinel: min_other_sentinels must be an int >= 0, not {min_other_sentinels!r}")
        if force_master_ip is not None and not isinstance(force_master_ip, str):
            raise DataError(f"Sentinel: force_master_ip must be a str or None, not {force_master_ip!r}")
        if sentinel_kwargs is None:
            # As redis-py: the sentinels take the socket_* options of the clients.
            sentinel_kwargs = {k: v for k, v in connection_kwargs.items() if k.startswith("socket_")}
        self.sentinel_kwargs = sentinel_kwargs
        # For the SENTINEL commands redis-py's methods send (execute_command).
        self.sentinels = [self._client_class(host=host, port=port, **sentinel_kwargs) for host, port in pairs]
        self.min_other_sentinels = min_other_sentinels
        self.connection_kwargs = connection_kwargs
        self._force_master_ip = force_master_ip
        self._native_sentinel = SentinelEngine(self.sentinels, min_other_sentinels, force_master_ip)

    def _client_for(self, service_name: str, replica: bool, redis_class: Any, connection_pool_class: Any,
                    kwargs: dict) -> Any:
        check_service_name(service_name)
        if redis_class is self._redis_py_class:
            redis_class = self._client_class  # redis-py's default (its aliases pass it): cpipe's own
        if not (isinstance(redis_class, type) and issubclass(redis_class, self._client_class)):
            raise DataError(f"Sentinel: redis_class must be {self._client_class.__module__}."
                            f"{self._client_class.__name__} or a subclass, not {redis_class!r}")
        if connection_pool_class not in (None, _sentinel.SentinelConnectionPool,
                                         _async_sentinel.SentinelConnectionPool):
            raise DataError("Sentinel: connection_pool_class is not supported: the engine resolves "
                            "the master itself (see cpipe.sentinel)")
        options = dict(self.connection_kwargs)
        options.update(kwargs)
        for name in _POOL_OPTIONS:
            options.pop(name, None)
        for name in _SERVER_OPTIONS:
            if name in options:
                raise DataError(f"Sentinel: {name}= cannot be given to a Sentinel client: Sentinel names its server")
        # A forked child cannot run the engine, and redis-py's connection
        # under cpipe's API knows no Sentinel: it raises ForkError there.
        options["fork_fallback"] = False
        target = SentinelTarget(self._native_sentinel, service_name, replica)
        cls: Any = redis_class
        client = cls.__new__(cls)
        # Read by EngineClient.__init__ into EngineConfig.resolver: every
        # handle the client opens (shared, WATCH, pub/sub) connects through it.
        client._sentinel_resolver = target.handle
        client._sentinel_target = target
        client.__init__(host=service_name, **options)
        return client


class Sentinel(EngineSentinel, _sentinel.Sentinel):
    """redis-py's Sentinel (same constructor, same methods) whose clients are cpipe's.

    `discover_master`, `discover_slaves` (and, inherited where redis-py has
    them, the aliases `discover_replicas`) are the engine's answers;
    `master_for`, `slave_for` (and `replica_for`)
    return cpipe.Redis clients (redis_class may be any cpipe.Redis subclass,
    cpipe.Pool included) that find the master or a replica before every
    connect. The SENTINEL commands (sentinel_masters(), ...) run on a cpipe
    client per sentinel, as redis-py's run on a redis.Redis per sentinel.
    """

    def __init__(self, sentinels: Any, min_other_sentinels: int = 0, sentinel_kwargs: Optional[dict] = None,
                 force_master_ip: Optional[str] = None, **connection_kwargs: Any) -> None:
        self._setup_sentinels(sentinels, min_other_sentinels, sentinel_kwargs, force_master_ip, connection_kwargs)

    def discover_master(self, service_name: str) -> tuple[str, int]:
        """The master's (ip, port), or MasterNotFoundError (redis-py's)."""
        return self._native_sentinel.master(check_service_name(service_name))

    def discover_slaves(self, service_name: str) -> list[tuple[str, int]]:
        """The replicas not down, [(ip, port), ...], maybe none."""
        return self._native_sentinel.replicas(check_service_name(service_name))

    def master_for(self, service_name: str, redis_class: Any = Redis, connection_pool_class: Any = None,
                   **kwargs: Any) -> Any:
        """A client of the master of service_name; it follows failovers by itself."""
        return self._client_for(service_name, False, redis_class, connection_pool_class, kwargs)

    def slave_for(self, service_name: str, redis_class: Any = Redis, connection_pool_class: Any = None,
                  **kwargs: Any) -> Any:
        """A client of the replicas of service_name (round-robin, then the master)."""
        return self._client_for(service_name, True, redis_class, connection_pool_class, kwargs)
