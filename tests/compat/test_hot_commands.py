"""The hand-written hot methods cannot drift from redis-py's.

Each has exactly redis-py's signature (names, kinds, defaults) for the
installed redis-py, and gives the replies redis-py's own method gives on the
same server, in the plain form cpipe writes itself and in the forms it hands
to redis-py's method, on a client and in a pipeline.
"""
from __future__ import annotations

import inspect

import pytest
import redis

import cpipe
from cpipe._hot import HOT_COMMANDS, HOT_NAMES, HotCommands, StagedHotCommands


def _params(func):
    return [(p.name, p.kind, p.default) for p in inspect.signature(func).parameters.values()]


# (method, args, kwargs): the plain forms and the ones redis-py's method handles.
CALLS = [
    ("set", ("k", "v"), {}),
    ("set", ("k", "v2"), {"ex": 100}),
    ("set", ("k", "v3"), {"nx": True}),
    ("set", ("k", "v4"), {"xx": True, "get": True}),
    ("get", ("k",), {}),
    ("get", ("missing",), {}),
    ("hset", ("h", "f", "1"), {}),
    ("hset", ("h",), {"mapping": {"a": 1, "b": 2}}),
    ("hset", ("h", "c", 3), {"mapping": {"d": 4}}),
    ("hset", ("h",), {"items": ["e", 5, "f", 6]}),
    ("hget", ("h", "a"), {}),
    ("hgetall", ("h",), {}),
    ("incr", ("n",), {}),
    ("incr", ("n", 5), {}),
    ("incrby", ("n", 2), {}),
    ("decr", ("n",), {}),
    ("decrby", ("n", 3), {}),
    ("lpush", ("l", 1, 2), {}),
    ("rpush", ("l", 3), {}),
    ("sadd", ("s", "a", "b", "a"), {}),
    ("exists", ("k", "h", "nope"), {}),
    ("delete", ("k", "n", "nope"), {}),
]


@pytest.mark.parametrize("name", HOT_COMMANDS)
def test_signature_is_redis_pys(name):
    assert _params(getattr(HotCommands, name)) == _params(getattr(redis.Redis, name))
    # and that is the method a cpipe client really has (in C once the bridge
    # is loaded, for the plain forms: it shows the Python method's signature)
    method = getattr(cpipe.Redis, name)
    assert method is getattr(HotCommands, name) or method.__wrapped__ is getattr(HotCommands, name)
    assert _params(method) == _params(getattr(redis.Redis, name))
    assert method.__doc__ == getattr(HotCommands, name).__doc__


@pytest.mark.parametrize("name", HOT_COMMANDS)
def test_pipeline_signature_is_redis_pys(name, real_server):
    # a pipeline's hot methods stage the command onto its batch: the same signatures
    assert _params(getattr(StagedHotCommands, name)) == _params(getattr(redis.client.Pipeline, name))
    assert getattr(StagedHotCommands, name).__doc__ == getattr(redis.Redis, name).__doc__
    # and the methods a pipeline really has (some in C once the bridge is loaded) show them too
    c = cpipe.Redis(port=real_server.port)
    try:
        p = c.pipeline(transaction=False)
        method = getattr(cpipe.Pipeline, name)
        assert method is getattr(StagedHotCommands, name) or method.__wrapped__ is getattr(StagedHotCommands, name)
        assert _params(method) == _params(getattr(redis.client.Pipeline, name))
        assert _params(getattr(p, name)) == _params(getattr(redis.Redis(port=real_server.port).pipeline(), name))
        assert method.__doc__ == getattr(redis.Redis, name).__doc__
        assert method.__name__ == name
    finally:
        c.close()


@pytest.mark.parametrize("base", [HotCommands, StagedHotCommands], ids=["client", "pipeline"])
def test_every_hot_name_is_sent_by_a_hot_method(base):
    # A pipeline's hot methods stage their command (_stage) or, for the less
    # used ones, queue it through _cmd; a client's send it through _cmd.
    sent = set()

    class Recorder(base):
        def _cmd(self, *args):
            sent.add(args[0])
            return self

        _stage = _cmd

    rec = Recorder()
    for method, args, kwargs in CALLS:
        if not kwargs:  # the plain forms are the ones cpipe sends itself
            assert getattr(rec, method)(*args) is rec
    assert sent == set(HOT_NAMES)


@pytest.mark.parametrize("decode", [False, True], ids=["bytes", "decoded"])
def test_replies_match_redis_py(real_server, decode):
    port = real_server.port
    rp = redis.Redis(port=port, protocol=2, decode_responses=decode)
    ours = cpipe.Redis(port=port, decode_responses=decode)
    try:
        for method, args, kwargs in CALLS:
            rp.flushall()
            for prior_method, prior_args, prior_kwargs in CALLS[: CALLS.index((method, args, kwargs))]:
                getattr(rp, prior_method)(*prior_args, **prior_kwargs)
            expected = getattr(rp, method)(*args, **kwargs)
            rp.flushall()
            for prior_method, prior_args, prior_kwargs in CALLS[: CALLS.index((method, args, kwargs))]:
                getattr(ours, prior_method)(*prior_args, **prior_kwargs)
            got = getattr(ours, method)(*args, **kwargs)
            assert got == expected and type(got) is type(expected), (method, args, kwargs)
        # the same sequence in one pipeline each, and in a transaction, staged too
        for transaction in (False, True):
            rp.flushall()
            p = rp.pipeline(transaction=transaction)
            for method, args, kwargs in CALLS:
                getattr(p, method)(*args, **kwargs)
            expected = p.execute()
            rp.flushall()
            p = ours.pipeline(transaction=transaction)
            for method, args, kwargs in CALLS:
                assert getattr(p, method)(*args, **kwargs) is p  # chained calls return the pipeline
            assert p._batch is not None and len(p._batch) == len(CALLS)  # every command staged
            assert p.execute() == expected
    finally:
        rp.close()
        ours.close()


def test_argument_checks_are_redis_pys(real_server):
    ours = cpipe.Redis(port=real_server.port)
    try:
        with pytest.raises(redis.DataError, match="'hset' with no key value pairs"):
            ours.hset("h")
        with pytest.raises(redis.DataError):
            ours.set("k", "v", ex=-1.5)
    finally:
        ours.close()


def test_response_callbacks_apply_to_hot_methods(real_server):
    ours = cpipe.Redis(port=real_server.port)
    try:
        ours.set("k", "7")
        ours.set_response_callback("GET", lambda reply: int(reply) * 2)
        assert ours.get("k") == 14
        assert ours.pipeline(transaction=False).get("k").get("k").execute() == [14, 14]
        ours.response_callbacks["get"] = lambda reply: "lower-case name"
        assert ours.get("k") == "lower-case name"
    finally:
        ours.close()
