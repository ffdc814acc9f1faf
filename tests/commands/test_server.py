"""Server and connection commands."""
from __future__ import annotations

import datetime
import time

from .differ import S


def test_ping_echo_dbsize(diff):
    diff.run(
        S("ping"),
        S("echo", "hello"),
        S("echo", b"\x00\xff"),
        S("echo", 12),
        S("dbsize"),
        S("set", "a", 1),
        S("dbsize"),
    )


def test_info(rp, cmd_client):
    expected = rp.info()
    got = cmd_client.info()
    assert type(got) is dict
    assert set(expected) == set(got)
    for key in ("redis_version", "redis_mode", "os", "arch_bits", "tcp_port", "role",
                "maxmemory_policy", "mem_allocator", "executable", "config_file"):
        assert key in got
        assert type(got[key]) is type(expected[key]) and got[key] == expected[key], key
    for key, value in expected.items():
        assert type(got[key]) is type(value), key  # int/float/str/dict/list typing rules
    for section in ("server", "keyspace", "clients", "commandstats", "everything"):
        e, g = rp.info(section), cmd_client.info(section)
        assert set(e) == set(g), section
        assert all(type(e[k]) is type(g[k]) for k in e), section
    e, g = rp.info("server", "clients"), cmd_client.info("server", "clients")
    assert set(e) == set(g)


def test_time(rp, cmd_client):
    expected = rp.time()
    got = cmd_client.time()
    assert type(got) is tuple and len(got) == 2
    assert all(type(x) is int for x in got)
    assert abs(got[0] - expected[0]) <= 2 and 0 <= got[1] < 1_000_000


def test_lastsave(rp, cmd_client):
    got = cmd_client.lastsave()
    assert type(got) is datetime.datetime
    assert got == rp.lastsave()


def test_client_name_and_id(rp, cmd_client):
    assert cmd_client.client_setname("cpipe-test") is True
    assert rp.client_setname("redispy-test") is True
    name = cmd_client.client_getname()
    assert name == "cpipe-test" and type(name) is str  # str whatever decode_responses says
    my_id = cmd_client.client_id()
    assert type(my_id) is int and my_id != rp.client_id()
    clients = cmd_client.client_list()
    expected = rp.client_list()
    assert type(clients) is list and all(type(c) is dict for c in clients)
    assert {c["name"] for c in clients} == {c["name"] for c in expected}
    assert set(clients[0]) == set(expected[0])
    mine = cmd_client.client_list(client_id=[str(my_id)])  # redis-py 5.0 joins them as str
    assert [c["id"] for c in mine] == [str(my_id)]
    assert cmd_client.client_list(_type="normal")
    assert cmd_client.client_list(_type="pubsub") == rp.client_list(_type="pubsub") == []


def test_client_errors(diff):
    diff.run(
        S("client_setname", "has space"),
        S("client_list", _type="bogus"),
        S("client_list", client_id=5),
        S("client_getname", _norm=lambda v: type(v)),
        S("client_setname", ""),
        S("client_getname"),
    )


def test_config(diff, ctl):
    try:
        diff.run(
            S("config_get", "maxmemory"),
            S("config_get", "maxmemory*"),
            S("config_get", "maxmemory", "timeout"),
            S("config_get", "no-such-parameter"),
            S("config_set", "maxmemory-samples", 7),
            S("config_get", "maxmemory-samples"),
            S("config_set", "maxmemory-samples", 5, "timeout", 0),
            S("config_set", "no-such-parameter", "1"),
            S("config_set", "maxmemory-samples", "not-a-number"),
            S("config_resetstat"),
        )
    finally:
        ctl.config_set("maxmemory-samples", 5)


def test_config_get_all(rp, cmd_client):
    expected, got = rp.config_get(), cmd_client.config_get()
    assert type(got) is dict and set(got) == set(expected)
    assert all(type(k) is str and (v is None or type(v) is str) for k, v in got.items())
    assert got["port"] == expected["port"]


def test_publish(diff, ctl, cmd_server):
    import redis

    listener = redis.Redis(port=cmd_server.port, protocol=2).pubsub()
    listener.subscribe("chan")
    deadline = time.monotonic() + 5
    while listener.get_message(timeout=0.1) is None and time.monotonic() < deadline:
        pass
    try:
        diff.run(
            S("publish", "chan", "hello"),
            S("publish", "nobody", "hello"),
            S("publish", b"chan", b"\x00"),
        )
    finally:
        listener.close()


def test_swapdb(diff):
    diff.run(
        S("set", "a", 1),
        S("swapdb", 0, 1),
        S("exists", "a"),
        S("swapdb", 0, 1),
        S("exists", "a"),
        S("swapdb", 0, 99),
    )
