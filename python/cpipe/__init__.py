"""cpipe: a fast Redis client for Python with a Go engine.

Importing cpipe does not start the Go runtime; the first client does.
"""
from __future__ import annotations

from typing import Any

from . import errors as _errors
from .errors import *  # noqa: F403 - every exception class, listed in errors.__all__

__version__ = "0.1.0"

_LAZY = {
    "Client": ("client", "Client"),
    "Redis": ("client", "Redis"),
    "Pipeline": ("pipeline", "Pipeline"),
    "Pool": ("pool", "Pool"),
    "Connect": ("compat", "Connect"),
    "ConnectPool": ("compat", "ConnectPool"),
    "hget": ("compat", "hget"),
    "hset": ("compat", "hset"),
    "add_command": ("compat", "add_command"),
    "execute": ("compat", "execute"),
    "phget": ("compat", "phget"),
    "phset": ("compat", "phset"),
    "ForkFallbackWarning": ("_fallback", "ForkFallbackWarning"),
    "Sentinel": ("sentinel", "Sentinel"),
    "MasterNotFoundError": ("sentinel", "MasterNotFoundError"),
    "SlaveNotFoundError": ("sentinel", "SlaveNotFoundError"),
    "RedisCluster": ("cluster", "RedisCluster"),
    "ClusterNode": ("cluster", "ClusterNode"),
    "ClusterPipeline": ("cluster_pipeline", "ClusterPipeline"),
}


def __getattr__(name: str) -> Any:
    # The client modules are imported on first use so that `python -m
    # cpipe.server` and plain `import cpipe` stay light.
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'cpipe' has no attribute {name!r}") from None
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), attr)
    globals()[name] = value
    return value


def from_url(url: str, **kwargs: Any) -> Any:
    """A Client from redis://[[user]:pass@]host[:port][/db]."""
    from .client import Client

    return Client.from_url(url, **kwargs)


__all__ = [
    "Client", "Redis", "Pipeline", "Pool", "from_url",
    "Connect", "ConnectPool", "hget", "hset", "add_command", "execute", "phget", "phset",
    "ForkFallbackWarning", "Sentinel", "MasterNotFoundError", "SlaveNotFoundError",
    "RedisCluster", "ClusterNode", "ClusterPipeline",
    *_errors.__all__,
]
