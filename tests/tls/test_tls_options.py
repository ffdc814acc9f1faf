"""redis-py's TLS options on cpipe.Redis, against redis-server --tls-port:
verification, hostname checks, CA sources, client certificates, URLs,
pools, and the options cpipe refuses."""
from __future__ import annotations

import ssl

import pytest
import redis

import cpipe
from cpipe._options import InvalidOptionError
from tests.tls._pki import PASSWORD
from tests.tls.conftest import start_tls_server


def tls_client(port: int, **kw):
    kw.setdefault("socket_timeout", 5)
    return cpipe.Redis(host=kw.pop("host", "127.0.0.1"), port=port, ssl=True, **kw)


def test_server_certificate_verified_by_the_ca(tls_server, pki, plain):
    r = tls_client(tls_server.tls_port, ssl_ca_certs=pki.ca)
    try:
        assert r.set("k", "over tls")
        assert r.get("k") == b"over tls"
        assert plain.get("k") == b"over tls"  # the same server, seen over plaintext
        info = r.client_info()
        assert int(info["id"]) > 0
    finally:
        r.close()


@pytest.mark.parametrize("reqs", ["required", "optional", ssl.CERT_REQUIRED, ssl.CERT_OPTIONAL])
def test_cert_reqs_that_verify(tls_server, pki, reqs):
    good = tls_client(tls_server.tls_port, ssl_ca_certs=pki.ca, ssl_cert_reqs=reqs)
    bad = tls_client(tls_server.tls_port, ssl_ca_certs=pki.other_ca, ssl_cert_reqs=reqs)
    try:
        assert good.ping()
        with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
            bad.ping()
    finally:
        good.close()
        bad.close()


@pytest.mark.parametrize("reqs", ["none", ssl.CERT_NONE, None])
def test_cert_reqs_none_does_not_verify(tls_server, pki, reqs):
    r = tls_client(tls_server.tls_port, ssl_ca_certs=pki.other_ca, ssl_cert_reqs=reqs)
    try:
        assert r.ping()
    finally:
        r.close()


def test_wrong_ca_is_redis_pys_exception(tls_server, pki):
    """The same class as redis-py's, and the words OpenSSL uses."""
    theirs = redis.Redis(port=tls_server.tls_port, ssl=True, ssl_ca_certs=pki.other_ca)
    ours = tls_client(tls_server.tls_port, ssl_ca_certs=pki.other_ca)
    try:
        with pytest.raises(redis.ConnectionError) as rp:
            theirs.ping()
        with pytest.raises(redis.ConnectionError) as cp:
            ours.ping()
        assert type(cp.value) is type(rp.value)
        assert "certificate verify failed" in str(rp.value)
        assert "certificate verify failed" in str(cp.value)
        # A failed connect is not kept: the next command tries again, and fails the same way.
        with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
            ours.get("k")
    finally:
        theirs.close()
        ours.close()


@pytest.fixture(scope="module")
def two_address_server(pki):
    """A TLS server on 127.0.0.1 (in the certificate) and 127.0.0.2 (not in it)."""
    srv = start_tls_server(pki, "--tls-auth-clients", "no", "--bind", "127.0.0.1 127.0.0.2")
    yield srv
    srv.proc.stop()


def test_hostname_check_on_and_off(two_address_server, pki):
    port = two_address_server.tls_port
    for host in ("127.0.0.1", "localhost"):
        r = tls_client(port, host=host, ssl_ca_certs=pki.ca, ssl_check_hostname=True)
        assert r.ping()
        r.close()
    wrong = tls_client(port, host="127.0.0.2", ssl_ca_certs=pki.ca, ssl_check_hostname=True)
    with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
        wrong.ping()
    wrong.close()
    # redis-py says the same.
    theirs = redis.Redis(host="127.0.0.2", port=port, ssl=True, ssl_ca_certs=pki.ca, ssl_check_hostname=True)
    with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
        theirs.ping()
    theirs.close()
    unchecked = tls_client(port, host="127.0.0.2", ssl_ca_certs=pki.ca, ssl_check_hostname=False)
    assert unchecked.ping()
    unchecked.close()
    # Not checking the name still verifies the chain.
    unchecked_bad_ca = tls_client(port, host="127.0.0.2", ssl_ca_certs=pki.other_ca, ssl_check_hostname=False)
    with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
        unchecked_bad_ca.ping()
    unchecked_bad_ca.close()


def test_ca_data_and_ca_path(tls_server, pki):
    with open(pki.ca) as f:
        pem = f.read()
    der = ssl.PEM_cert_to_DER_cert(pem)
    with open(pki.other_ca) as f:
        other_der = ssl.PEM_cert_to_DER_cert(f.read())
    for kw in ({"ssl_ca_data": pem}, {"ssl_ca_data": der}, {"ssl_ca_data": other_der + der},
               {"ssl_ca_path": pki.ca_dir}):
        r = tls_client(tls_server.tls_port, **kw)
        try:
            assert r.ping(), kw
        finally:
            r.close()
    r = tls_client(tls_server.tls_port, ssl_ca_data=other_der)
    with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
        r.ping()
    r.close()


def test_mutual_tls(mtls_server, pki):
    port = mtls_server.tls_port
    without = tls_client(port, ssl_ca_certs=pki.ca)
    with pytest.raises(redis.ConnectionError, match="client certificate"):
        without.ping()
    without.close()
    theirs = redis.Redis(port=port, ssl=True, ssl_ca_certs=pki.ca)
    with pytest.raises(redis.ConnectionError):  # redis-py: the same class
        theirs.ping()
    theirs.close()
    with_cert = tls_client(port, ssl_ca_certs=pki.ca, ssl_certfile=pki.client_cert, ssl_keyfile=pki.client_key)
    assert with_cert.set("mtls", "1") and with_cert.get("mtls") == b"1"
    with_cert.close()
    encrypted = tls_client(port, ssl_ca_certs=pki.ca, ssl_certfile=pki.client_cert,
                           ssl_keyfile=pki.client_key_encrypted, ssl_password=PASSWORD)
    assert encrypted.ping()
    encrypted.close()


def test_bad_certificate_options_are_refused_up_front(pki):
    with pytest.raises(InvalidOptionError, match="ssl_certfile"):
        tls_client(1, ssl_certfile=pki.client_cert, ssl_keyfile=pki.client_key_encrypted, ssl_password="wrong")
    with pytest.raises(InvalidOptionError, match="ssl_certfile"):
        tls_client(1, ssl_certfile="/nonexistent/cert.pem")
    with pytest.raises(InvalidOptionError, match="ssl_ca_certs"):
        tls_client(1, ssl_ca_certs="/nonexistent/ca.pem")
    with pytest.raises(InvalidOptionError, match="ssl_keyfile needs ssl_certfile"):
        tls_client(1, ssl_keyfile=pki.client_key)
    with pytest.raises(InvalidOptionError, match="Invalid SSL Certificate Requirements Flag"):
        tls_client(1, ssl_cert_reqs="sometimes")


@pytest.mark.parametrize("name,value", [
    ("ssl_ciphers", "HIGH:!aNULL"),
    ("ssl_validate_ocsp", True),
    ("ssl_validate_ocsp_stapled", True),
    ("ssl_ocsp_expected_cert", "x"),
])
def test_unsupported_options_raise(name, value):
    with pytest.raises(InvalidOptionError, match=name):
        tls_client(1, **{name: value})
    # Off, they are what the engine does anyway.
    tls_client(1, **{name: None if value is not True else False}).close()


def test_misspelt_ssl_option_and_unix_socket():
    with pytest.raises(TypeError, match="ssl_ca_cert"):
        cpipe.Redis(ssl=True, ssl_ca_cert="/x")
    with pytest.raises(InvalidOptionError, match="unix_socket_path"):
        cpipe.Redis(ssl=True, unix_socket_path="/tmp/nothing.sock")


def test_min_version(pki):
    srv = start_tls_server(pki, "--tls-auth-clients", "no", "--tls-protocols", "TLSv1.2")
    try:
        ok = tls_client(srv.tls_port, ssl_ca_certs=pki.ca, ssl_min_version=ssl.TLSVersion.TLSv1_2)
        assert ok.ping()
        ok.close()
        too_new = tls_client(srv.tls_port, ssl_ca_certs=pki.ca, ssl_min_version=ssl.TLSVersion.TLSv1_3)
        with pytest.raises(redis.ConnectionError, match="protocol version"):
            too_new.ping()
        too_new.close()
    finally:
        srv.proc.stop()


def test_rediss_urls(tls_server, pki):
    port = tls_server.tls_port
    for url in (f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={pki.ca}",
                f"rediss://127.0.0.1:{port}/0?ssl_cert_reqs=required&ssl_ca_certs={pki.ca}",
                f"rediss://127.0.0.1:{port}/0?ssl_cert_reqs=none",
                f"rediss://localhost:{port}/2?ssl_ca_certs={pki.ca}&ssl_check_hostname=true"):
        r = cpipe.Redis.from_url(url)
        try:
            assert r.ping(), url
        finally:
            r.close()
    bad = cpipe.Redis.from_url(f"rediss://127.0.0.1:{port}/0?ssl_cert_reqs=required&ssl_ca_certs={pki.other_ca}")
    with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
        bad.ping()
    bad.close()
    # Plaintext redis:// to the TLS port is not TLS.
    plain = cpipe.Redis.from_url(f"redis://127.0.0.1:{port}/0", socket_timeout=2)
    with pytest.raises(redis.ConnectionError):
        plain.ping()
    plain.close()


def test_pool_and_redis_py_ssl_pool(tls_server, pki):
    pool = cpipe.Pool(host="127.0.0.1", port=tls_server.tls_port, size=4, ssl=True, ssl_ca_certs=pki.ca)
    try:
        futs = [pool.submit("INCR", "pooled") for _ in range(200)]
        pool.flush()
        assert sorted(f.result() for f in futs) == list(range(1, 201))
    finally:
        pool.close()
    rp = redis.ConnectionPool(connection_class=redis.SSLConnection, host="127.0.0.1",
                              port=tls_server.tls_port, ssl_ca_certs=pki.ca)
    r = cpipe.Redis(connection_pool=rp)
    try:
        assert r.get("pooled") == b"200"
        # The facade describes TLS connections, as redis-py's would.
        assert issubclass(r.connection_pool.connection_class, redis.SSLConnection)
    finally:
        r.close()
    rp.disconnect()
