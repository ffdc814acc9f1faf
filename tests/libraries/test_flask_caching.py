"""flask-caching: the RedisCache backend given our client as CACHE_REDIS_HOST."""
from __future__ import annotations

from flask import Flask
from flask_caching import Cache


def test_memoize_and_cached_view(make_client, admin):
    r = make_client()
    app = Flask(__name__)
    cache = Cache(app, config={"CACHE_TYPE": "RedisCache", "CACHE_REDIS_HOST": r,
                               "CACHE_KEY_PREFIX": "fc:", "CACHE_DEFAULT_TIMEOUT": 60})
    assert cache.cache._write_client is r

    calls = []

    @cache.memoize()
    def square(n):
        calls.append(n)
        return n * n

    @app.route("/hello/<name>")
    @cache.cached(query_string=True)
    def hello(name):
        calls.append(name)
        return f"hello {name}"

    with app.app_context():
        assert [square(3), square(3), square(4)] == [9, 9, 16]
        assert calls == [3, 4]
        cache.delete_memoized(square, 3)
        assert square(3) == 9 and calls == [3, 4, 3]

    web = app.test_client()
    assert [web.get("/hello/ann").text for _ in range(2)] == ["hello ann"] * 2
    assert calls.count("ann") == 1
    assert all(k.startswith(b"fc:") for k in admin.keys("*")) and admin.dbsize() >= 3
