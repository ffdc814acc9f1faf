"""Options that need a newer server than redis-server 7.0 (run on valkey 8)."""
from __future__ import annotations

import warnings

from .differ import S


def test_server_is_newer(diff_newer):
    version = diff_newer.ctl.info("server")
    assert int(str(version.get("valkey_version", version["redis_version"])).split(".")[0]) >= 8


def test_zrank_withscore(diff_newer):
    diff_newer.run(
        S("zadd", "z", {"a": 1.5, "b": 2, "c": 1e20}),
        S("zrank", "z", "b", withscore=True),
        S("zrank", "z", "c", withscore=True),
        S("zrank", "z", "a", withscore=True, score_cast_func=int),
        S("zrank", "z", "nothere", withscore=True),
        S("zrevrank", "z", "a", withscore=True),
        S("zrevrank", "z", "c", True, str),
        S("zrevrank", "missing", "a", withscore=True),
        S("zrank", "z", "a"),
    )


def test_hscan_novalues(diff_newer):
    big = {f"f{i}": i for i in range(300)}
    diff_newer.run(
        S("hset", "small", mapping={"a": 1, "b": 2}),
        S("hscan", "small", no_values=True),
        S("hscan", "missing", no_values=True),
        S("hset", "big", mapping=big),
        S("hscan", "big", no_values=True),
        S("hscan", "big", 0, count=10, no_values=True),
        S("hscan", "big", 0, match="f1*", count=1000, no_values=True),
    )
    d = diff_newer
    assert sorted(d.client.hscan_iter("big", no_values=True)) == sorted(d.rp.hscan_iter("big", no_values=True))
    assert sorted(d.client.hscan_iter("big", match="f2*", no_values=True)) == sorted(
        d.rp.hscan_iter("big", match="f2*", no_values=True))


def test_set_ifeq(diff_newer):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # redis-py marks ifeq as experimental
        diff_newer.run(
            S("set", "k", "v1"),
            S("set", "k", "v2", ifeq="nope"),
            S("set", "k", "v2", ifeq="v1"),
            S("set", "k", "v3", ifeq="v2", get=True),
            S("set", "k", "v4", ifeq="v3", nx=True),
            S("get", "k"),
        )
