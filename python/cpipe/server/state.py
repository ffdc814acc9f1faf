"""State shared by every connection of one server (seed 000's idea: one
object injected into each protocol instance by the protocol factory)."""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

from . import limits
from .blocking import serve_ready
from .db import Db
from .pubsub import PubSub


@dataclass
class ServerConfig:
    """Everything `python -m cpipe.server` accepts, with the same defaults."""

    host: str = "127.0.0.1"
    #: TCP port; 0 picks a free one (read it back from Server.port);
    #: None: no TCP listener (unix socket only).
    port: int | None = 0
    unixsocket: str | None = None
    requirepass: str | None = None
    enable_faults: bool = False
    proto_max_bulk_len: int = limits.PROTO_MAX_BULK_LEN
    client_query_buffer_limit: int = limits.QUERY_BUFFER_LIMIT
    client_output_buffer_limit: int = limits.OUTPUT_BUFFER_LIMIT
    #: Close clients idle this many seconds (Redis `timeout`); 0: never.
    timeout: float = 0
    databases: int = limits.DATABASES
    #: Request parser: "auto" (hiredis when installed), "hiredis", "python";
    #: None reads CPIPE_SERVER_PARSER from the environment.
    parser: str | None = None
    #: Report this version in INFO/HELLO.
    version: str = "7.0.0"
    extra: dict = field(default_factory=dict)


class ServerState:
    def __init__(self, config: ServerConfig, loop, server=None):
        from .parser import resolve_parser

        self.config = config
        self.loop = loop
        self.server = server  # the Server, for faults/refuse
        self.parser_kind = resolve_parser(config.parser)
        from .tracking import TrackingTable

        self.tracking = TrackingTable(self)
        #: the client whose requests are running (NOLOOP, own invalidations)
        self.current_client = None
        self.dbs = [Db(i, self) for i in range(config.databases)]
        self.clients = {}  # id -> Client
        self._ids = itertools.count(1)
        self.pubsub = PubSub()
        self.ready_keys = []  # [(db, key)] lists that may serve blocked clients
        self.ready_set = set()
        self.global_faults = []  # [(kind, arg)] armed on each new connection
        self.scan_cursors = {}  # cursor -> (snapshot list, position)
        self._cursor_ids = itertools.count(1)
        self.started = time.time()
        self.started_mono = time.monotonic()
        self.stats = {"connections": 0, "commands": 0, "rejected": 0}
        self.port = None
        self.dirty = 0

    def next_client_id(self) -> int:
        return next(self._ids)

    def next_cursor_id(self) -> int:
        return next(self._cursor_ids)

    def signal_ready(self, db, key) -> None:
        k = (db.index, key)
        if k not in self.ready_set:
            self.ready_set.add(k)
            self.ready_keys.append((db, key))

    def serve_ready(self) -> None:
        serve_ready(self)

    def sweep_expired(self) -> None:
        """One active-expiry cycle (see limits.EXPIRE_SWEEP_*)."""
        deadline = time.monotonic() + limits.EXPIRE_SWEEP_BUDGET
        self.current_client = None  # expiry is nobody's write
        for db in self.dbs:
            while True:
                sampled, expired = db.sweep(limits.EXPIRE_SWEEP_SAMPLE)
                if not sampled or expired * 4 <= sampled or time.monotonic() > deadline:
                    break
