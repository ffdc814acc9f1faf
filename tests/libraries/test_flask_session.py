"""flask-session: server-side sessions in Redis through SESSION_REDIS = our client.

flask-session keeps the client only if isinstance(client, redis.Redis);
otherwise it warns and connects to localhost:6379 with a redis.Redis of its
own, which the test would see as a failure to connect or a redis-py connection.
"""
from __future__ import annotations

import warnings

from flask import Flask, session
from flask_session import Session


def test_session_survives_requests_and_is_stored_in_redis(make_client, admin):
    r = make_client()
    app = Flask(__name__)
    app.config.update(SESSION_TYPE="redis", SESSION_REDIS=r, SESSION_KEY_PREFIX="sess:",
                      SECRET_KEY="test")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "No valid Redis instance provided" must not happen
        Session(app)
    assert app.session_interface.client is r

    @app.route("/visit")
    def visit():
        session["visits"] = session.get("visits", 0) + 1
        return str(session["visits"])

    @app.route("/logout")
    def logout():
        session.clear()
        return "bye"

    web = app.test_client()
    assert [web.get("/visit").text for _ in range(3)] == ["1", "2", "3"]
    (key,) = admin.keys("sess:*")
    assert 0 < admin.ttl(key) <= 31 * 24 * 3600
    assert web.get("/logout").text == "bye"
    assert admin.keys("sess:*") == []
    assert web.get("/visit").text == "1"  # a new session
