"""`python -m cpipe.server --port N ...` (see the package docstring)."""
from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from . import limits
from .server import Server, new_event_loop
from .state import ServerConfig


def _size(text: str) -> int:
    """Redis-style sizes: 512mb, 1gb, 64kb, or plain bytes."""
    t = text.strip().lower()
    for suffix, mul in (("gb", 1 << 30), ("mb", 1 << 20), ("kb", 1 << 10), ("b", 1)):
        if t.endswith(suffix):
            return int(t[:-len(suffix)]) * mul
    return int(t)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m cpipe.server",
                                description="Redis-compatible reference server (pure Python).")
    p.add_argument("--port", type=int, default=6379,
                   help="TCP port (0: pick a free one and print it; "
                        "0 together with --unixsocket: no TCP, as Redis)")
    p.add_argument("--host", "--bind", dest="host", default="127.0.0.1")
    p.add_argument("--unixsocket", default=None)
    p.add_argument("--requirepass", default=None)
    p.add_argument("--enable-faults", action="store_true",
                   help="accept the CPIPE.FAULT command")
    p.add_argument("--proto-max-bulk-len", type=_size, default=limits.PROTO_MAX_BULK_LEN)
    p.add_argument("--client-query-buffer-limit", type=_size, default=limits.QUERY_BUFFER_LIMIT)
    p.add_argument("--client-output-buffer-limit", type=_size,
                   default=limits.OUTPUT_BUFFER_LIMIT)
    p.add_argument("--timeout", type=float, default=0, help="close idle clients after N s")
    p.add_argument("--databases", type=int, default=limits.DATABASES)
    p.add_argument("--parser", choices=["auto", "hiredis", "python"], default=None,
                   help="request parser (default: $CPIPE_SERVER_PARSER or auto)")
    p.add_argument("--no-uvloop", action="store_true", help="use the default asyncio loop")
    p.add_argument("--loglevel", default="warning")
    p.add_argument("--redis-version", default=ServerConfig.version,
                   help="version reported by HELLO and INFO (default %(default)s; the commands "
                        "served follow Redis 7.0 whatever this says)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.loglevel.upper(), format="%(asctime)s %(name)s: %(message)s")
    port = args.port
    if port == 0 and args.unixsocket:
        port = None
    config = ServerConfig(
        host=args.host, port=port, unixsocket=args.unixsocket, requirepass=args.requirepass,
        enable_faults=args.enable_faults, proto_max_bulk_len=args.proto_max_bulk_len,
        client_query_buffer_limit=args.client_query_buffer_limit,
        client_output_buffer_limit=args.client_output_buffer_limit,
        timeout=args.timeout, databases=args.databases, parser=args.parser,
        version=args.redis_version)

    async def run():
        server = Server(config)
        await server.start()
        where = []
        if server.port is not None:
            where.append(f"tcp {config.host}:{server.port}")
        if config.unixsocket:
            where.append(f"unix {config.unixsocket}")
        print(f"cpipe.server ready to accept connections: {', '.join(where)} "
              f"(parser {server.state.parser_kind})", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):
                pass
        try:
            await stop.wait()
        finally:
            await server.stop()

    loop = new_event_loop(not args.no_uvloop)
    try:
        loop.run_until_complete(run())
    finally:
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
