"""cpipe.server - a small Redis-compatible server in pure Python (asyncio).

A lightweight Redis stand-in for tests: RESP2 over TCP and unix sockets,
16 databases, strings, hashes, lists (with blocking pops), sets, sorted
sets, pub/sub, transactions with WATCH, expiry to the millisecond, and the
same replies and error messages as Redis 7.0 for every command it serves.
It never loads cpipe's Go engine.

Run it:
    python -m cpipe.server --port 6390 [--host 127.0.0.1] [--unixsocket PATH]
        [--requirepass PW] [--enable-faults] [--proto-max-bulk-len N]
        [--parser auto|hiredis|python] [--no-uvloop]

From tests:
    from cpipe.server import serve, ServerThread

    async with serve(port=0) as srv:        # in a running event loop
        ... ("127.0.0.1", srv.port)

    with ServerThread(port=0, enable_faults=True) as srv:   # from sync code
        ... srv.port, srv.set_fault("close-after", 2), srv.clear_faults()

Faults on demand (command form needs --enable-faults / enable_faults=True;
the Python methods Server.set_fault/clear_faults/refuse always work):

    CPIPE.FAULT CLOSE-AFTER <n> [GLOBAL]   close after n more replies
                                           (0: right after this +OK)
    CPIPE.FAULT CLOSE-MID-REPLY [GLOBAL]   next reply: first half, then close
    CPIPE.FAULT DELAY <ms> [GLOBAL]        hold every reply <ms> ms, in order
    CPIPE.FAULT STALL [GLOBAL]             next reply: first half, then silence
                                           for good (requests are dropped)
    CPIPE.FAULT MALFORMED [GLOBAL]         next reply replaced by b"@malformed\\r\\n"
    CPIPE.FAULT REFUSE <ms>                stop listening <ms> ms (ECONNREFUSED)
    CPIPE.FAULT CLEAR [GLOBAL]             back to normal (GLOBAL: everyone)

GLOBAL arms the fault on every open connection and on each new connection
until CPIPE.FAULT CLEAR GLOBAL. The +OK of CPIPE.FAULT itself is never
faulted. See README.md next to this file for limits and details.
"""
from .state import ServerConfig
from .server import Server, ServerThread, serve

__all__ = ["Server", "ServerConfig", "ServerThread", "serve"]
