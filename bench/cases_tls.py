"""TLS: pipelined HSET over TLS beside the same over plaintext.

The case starts its own redis-server (the run's server has no TLS port)
with both a plaintext --port and a --tls-port, certificates made once by
openssl in a temporary directory (tests/tls/_pki.py: a CA, a server
certificate for 127.0.0.1 verified by it). Every client writes 200,000
distinct fields of a hash of its own in pipelines of 10,000, the clients
taking turns pipeline by pipeline (harness.Interleaved), in an order
rotated per repetition:

- cpipe over plaintext and over TLS (`ssl=True, ssl_ca_certs=...`,
  certificate and hostname verified), the engine's crypto/tls;
- redis-py (hiredis) over plaintext and over TLS (its ssl module, OpenSSL).

The target is cpipe's TLS rate against its own plaintext rate on the same
server: what the transport costs. Python builds each pipeline inside the
timed region, as in pipe_hset, so the ratio is what a user sees.
"""
from __future__ import annotations

import os
import shutil
import tempfile

from harness import Context, Target, case

N, BATCH = 200_000, 10_000


def _setup(ctx: Context) -> dict:
    from tests.tls._pki import make_pki

    d = tempfile.mkdtemp(prefix="cpipe-bench-tls-")
    import atexit

    atexit.register(shutil.rmtree, d, True)
    return {"pki": make_pki(d)}


def _start_server(ctx: Context):
    from tests._servers import free_port, start_real_server

    pki = ctx.state["pki"]
    tls_port = free_port()
    srv = start_real_server("--tls-port", str(tls_port), "--tls-cert-file", pki.server_cert,
                            "--tls-key-file", pki.server_key, "--tls-ca-cert-file", pki.ca,
                            "--tls-auth-clients", "no")
    ctx.on_close(srv.stop)
    ctx.server_pid = srv.proc.pid  # the Meter's server CPU is this server's
    return srv, tls_port


@case(
    "tls_hset", "Pipelined HSET over TLS vs plaintext: 200,000 in pipelines of 10,000", order=25,
    setup=_setup,
    targets=[Target("cpipe TLS", "cpipe plaintext", at_least=0.7,
                    note="what TLS costs cpipe on a pipeline"),
             Target("cpipe TLS", "redis-py TLS", at_least=3)],
    description=__doc__.split("\n\n", 1)[1].strip(),
)
def tls_hset(ctx: Context) -> None:
    import redis

    import cpipe

    srv, tls_port = _start_server(ctx)
    pki = ctx.state["pki"]
    tls = {"ssl": True, "ssl_ca_certs": pki.ca}
    timeout = ctx.default_timeout
    clients = {
        "cpipe plaintext": cpipe.Redis(host="127.0.0.1", port=srv.port, socket_timeout=timeout),
        "cpipe TLS": cpipe.Redis(host="127.0.0.1", port=tls_port, socket_timeout=timeout, **tls),
        "redis-py plaintext": redis.Redis(host="127.0.0.1", port=srv.port, protocol=2, socket_timeout=timeout),
        "redis-py TLS": redis.Redis(host="127.0.0.1", port=tls_port, protocol=2, socket_timeout=timeout, **tls),
    }
    for c in clients.values():
        ctx.on_close(c.close)
    n = ctx.count(N)
    ctx.note(f"server: `redis-server --port P --tls-port T --tls-cert-file ... --tls-auth-clients no` "
             f"started by the case; TLS clients verify the certificate ({os.path.basename(pki.ca)})")

    def load_for(label: str, c):
        key = f"bench:tls:{label}"

        def load(a: int, b: int):
            p = c.pipeline(transaction=False)
            for i in range(a, b):
                p.hset(key, i, i)
            last = p.execute()[-1]

            def check() -> None:
                if last != 1:
                    raise AssertionError(f"{label}: last reply {last!r}, want 1")
            return check
        return load

    loads = [(label, load_for(label, c)) for label, c in clients.items()]
    for label, load in loads:  # warm-up (connect, handshake), untimed
        load(n, n + 100)()
        clients[label].delete(f"bench:tls:{label}")
    acc = ctx.interleaved()
    acc.run(loads, n, BATCH)
    acc.record()
    admin = redis.Redis(host="127.0.0.1", port=srv.port)
    try:
        for label in clients:
            got = admin.hlen(f"bench:tls:{label}")
            if got != n:
                raise AssertionError(f"{label}: HLEN {got}, want {n}")
    finally:
        admin.close()
