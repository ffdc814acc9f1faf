"""Fixtures for the reference server tests (tests/server only).

real_server: a real redis-server 7 (or valkey) on a free loopback port.
ref_server:  `python -m cpipe.server` as a subprocess, once per request
             parser (hiredis and pure Python), so every differential test
             runs against both parsers.
thread_server: an in-process ServerThread with faults enabled, for tests
             that drive faults from Python or inspect server state.
"""
from __future__ import annotations

import os

import pytest

import cpipe

# Subprocess servers must import the same cpipe as this process (the
# installed package under `make test`, python/ with PYTHONPATH=python in a
# checkout); nothing here may put python/ ahead of it, or the client tests
# of the same session would import a package without its native engine.
PKG_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(cpipe.__file__)))
if PKG_PARENT not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [PKG_PARENT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])

from tests._servers import start_real_server, start_reference_server  # noqa: E402

from cpipe.server import ServerThread  # noqa: E402

PARSERS = ["hiredis", "python"]


@pytest.fixture(scope="session")
def real_server():
    srv = start_real_server()
    yield srv
    srv.stop()


@pytest.fixture(scope="session", params=PARSERS)
def ref_server(request):
    srv = start_reference_server("--parser", request.param)
    srv.parser = request.param
    yield srv
    srv.stop()


@pytest.fixture(params=PARSERS)
def parser_kind(request):
    return request.param


@pytest.fixture
def thread_server(parser_kind):
    with ServerThread(port=0, enable_faults=True, parser=parser_kind) as srv:
        yield srv


def make_thread_server(**kwargs) -> ServerThread:
    """Start a ServerThread with custom settings (caller stops it)."""
    kwargs.setdefault("port", 0)
    return ServerThread(**kwargs).start()
