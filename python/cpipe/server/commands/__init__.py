"""Command modules; importing this package fills the registry in table.py."""
from . import (admin, connection, hashes, keys, lists, pubsub_cmds, sets, strings,  # noqa: F401
               transactions, zsets)
from .table import COMMANDS, DISPATCH  # noqa: F401
