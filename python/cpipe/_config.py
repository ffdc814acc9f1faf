"""EngineConfig: the one description of what a client asks the engine for.

A client builds one from its (already checked) options and hands it to
`native.open(config)`; the bridge reads the fields by name into the C struct
the engine takes (cpipe/options.h), so this class, that struct and
engine.Options describe the same things under the same names. The bridge
checks types and ranges again (TypeError or ValueError naming the field),
because it is what turns them into C values.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional

# A command as the bridge encodes it: its name, then its arguments
# (str, bytes, int or float).
Command = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """How the engine connects, and what it does on every connection.

    Kept by the client to reopen its handle (an asyncio client whose loop
    died) or to derive a dedicated one (`dedicated()`).
    """

    host: str = "localhost"
    """Server host name or address; ignored when unix_socket_path is set."""

    port: int = 6379
    """TCP port, 1..65535."""

    unix_socket_path: Optional[str] = None
    """Path of the server's unix socket; None: connect over TCP to host:port."""

    connect_timeout: float = 0.0
    """Seconds one dial may take (TCP connect, not the init commands); 0: no limit."""

    socket_timeout: float = 0.0
    """Seconds a read or write may wait with no bytes moving (the init
    commands' too); 0: no limit. A blocking command (BLPOP ...) waits its own
    time on top of it."""

    init_commands: tuple[Command, ...] = field(default=(), repr=False)
    """Commands replayed after every connect, before anything else is sent:
    AUTH, SELECT, CLIENT SETNAME. An error reply to one fails the connect
    (AuthenticationError for AUTH). Not in the repr: AUTH holds a password."""

    size: int = 1
    """Shared connections, 1..10000 (cpipe._options.MAX_POOL_SIZE): 1 for a
    client, the pool's size for a Pool."""

    autopipeline: bool = False
    """True: callers share the connections and their commands are coalesced
    into shared writes. False: a caller borrows a whole connection for its
    request, as a classic pool does."""

    max_queued: int = 0
    """Commands accepted but not yet answered on one connection, 0..2**62; 0:
    the engine's default (2**20). A caller past it waits, up to
    socket_timeout."""

    connect_once: bool = False
    """True: a connection that was up and is lost (or that the server closed)
    is never replaced; every later command fails with ConnectionError. A
    first connect that fails may still be retried. For a connection that
    carries state a new one would not have: a WATCH pipeline's, where a
    silent reconnect between WATCH and EXEC would drop the watch and let EXEC
    succeed unconditionally."""

    protocol: int = 2
    """The RESP version asked for: 2, or 3 (the engine sends HELLO 3 after
    AUTH on every connect; a server that refuses it as unknown is spoken to
    in RESP2, quietly, and the engine's protocol() says 2)."""

    resolver: int = 0
    """0, or a Sentinel target (cpipe.sentinel) that names the server every
    connect dials instead of host and port: the service's master, checked
    with ROLE, or its replicas."""

    tls: Optional[str] = field(default=None, repr=False)
    """None: plaintext. Else TLS on every connection, as engine.TLSSettings
    in JSON (cpipe._tls.tls_settings): certificates, verification, hostname
    check, minimum version; the handshake counts in connect_timeout. Not in
    the repr: it may hold ssl_password."""

    def dedicated(self) -> "EngineConfig":
        """The same server and init commands, on one connection of its own
        that never reconnects: for a WATCH pipeline."""
        return dataclasses.replace(self, size=1, autopipeline=False, connect_once=True)
