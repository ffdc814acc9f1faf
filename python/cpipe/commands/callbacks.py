"""Reply conversions: raw RESP2 replies to the values redis-py 8 returns.

Every converter here takes one raw reply, which is what the engine hands
back: bytes (or str under decode_responses), int, list or None. They are
module-level functions so that command methods pass them without building a
closure per call; builtins (`bool`, `float`) are used directly where they
already give the redis-py value. Converters parameterised by an argument
(a custom `score_cast_func`) are built by the `make_*` factories, on the
slow path only.

`RESPONSE_CALLBACKS` at the bottom wraps the same converters so they accept
`**options`, for the generic `execute_command(*args, **options)`.
"""
from __future__ import annotations

import datetime
from typing import Any, Callable, Optional

_OK = (b"OK", "OK")


def str_if_bytes(value: Any) -> Any:
    """bytes -> str (undecodable bytes replaced), anything else unchanged."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


# -- scalars ---------------------------------------------------------------

def ok_to_bool(reply: Any) -> bool:
    """+OK -> True (RENAME, MSET, FLUSHDB, LSET, LTRIM, CONFIG SET, ...)."""
    return reply == b"OK" or reply == "OK"


def parse_set(reply: Any) -> Optional[bool]:
    """SET without GET: +OK -> True, nil (NX/XX not met) -> None."""
    if reply is None:
        return None
    return reply == b"OK" or reply == "OK"


def float_or_none(reply: Any) -> Optional[float]:
    if reply is None:
        return None
    return float(reply)


def pong_to_bool(reply: Any) -> bool:
    return reply == b"PONG" or reply == "PONG"


def always_true(reply: Any) -> bool:
    return True


def parse_time(reply: Any) -> tuple[int, int]:
    return int(reply[0]), int(reply[1])


def parse_lastsave(reply: Any) -> Optional[datetime.datetime]:
    if not reply:
        return None
    try:
        return datetime.datetime.fromtimestamp(int(reply))
    except ValueError:
        return None


# -- collections -----------------------------------------------------------

def pairs_to_dict(reply: Any) -> dict[Any, Any]:
    """[k1, v1, k2, v2, ...] -> {k1: v1, k2: v2}; nil -> {}."""
    if not reply:
        return {}
    it = iter(reply)
    return dict(zip(it, it))


def to_set(reply: Any) -> set[Any]:
    if not reply:
        return set()
    return set(reply)


def to_tuple_or_none(reply: Any) -> Optional[tuple[Any, ...]]:
    """BLPOP/BRPOP: [key, value] -> (key, value); timeout (nil) -> None."""
    if not reply:
        return None
    return tuple(reply)


def parse_bzpop(reply: Any) -> Optional[tuple[Any, ...]]:
    """BZPOPMIN/BZPOPMAX: [key, member, score] -> (key, member, float)."""
    if not reply:
        return None
    return reply[0], reply[1], float(reply[2])


def _safe_cast(func: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A score cast that also accepts RESP2 scores in exponent form.

    RESP2 sends scores as text such as b'1.5e+18', which int() rejects;
    like redis-py, try the function first and go through float() only if
    it raises.
    """
    if func is float:
        return func

    def cast(value: Any) -> Any:
        try:
            return func(value)
        except (ValueError, TypeError):
            return func(float(value))

    return cast


def score_pairs(reply: Any) -> Any:
    """[m1, s1, m2, s2, ...] -> [(m1, float(s1)), ...]; empty stays as is."""
    if not reply:
        return reply
    it = iter(reply)
    return list(zip(it, map(float, it)))


def make_score_pairs(score_cast_func: Callable[[Any], Any]) -> Callable[[Any], Any]:
    if score_cast_func is float:
        return score_pairs
    cast = _safe_cast(score_cast_func)

    def convert(reply: Any) -> Any:
        if not reply:
            return reply
        it = iter(reply)
        return list(zip(it, map(cast, it)))

    return convert


def rank_with_score(reply: Any) -> Any:
    """ZRANK ... WITHSCORE: [rank, score] -> [rank, float(score)]."""
    if not reply:
        return reply
    return [reply[0], float(reply[1])]


def make_rank_with_score(score_cast_func: Callable[[Any], Any]) -> Callable[[Any], Any]:
    if score_cast_func is float:
        return rank_with_score
    cast = _safe_cast(score_cast_func)

    def convert(reply: Any) -> Any:
        if not reply:
            return reply
        return [reply[0], cast(reply[1])]

    return convert


def parse_zmscore(reply: Any) -> list[Any]:
    return [None if s is None else float(s) for s in reply]


# -- cursors ---------------------------------------------------------------

def parse_scan(reply: Any) -> tuple[int, list[Any]]:
    return int(reply[0]), reply[1]


def parse_hscan(reply: Any) -> tuple[int, dict[Any, Any]]:
    return int(reply[0]), pairs_to_dict(reply[1])


def parse_hscan_novalues(reply: Any) -> tuple[int, list[Any]]:
    return int(reply[0]), reply[1] or []


def parse_zscan(reply: Any) -> tuple[int, list[Any]]:
    it = iter(reply[1])
    return int(reply[0]), list(zip(it, map(float, it)))


def make_zscan(score_cast_func: Callable[[Any], Any]) -> Callable[[Any], Any]:
    if score_cast_func is float:
        return parse_zscan
    cast = _safe_cast(score_cast_func)

    def convert(reply: Any) -> tuple[int, list[Any]]:
        it = iter(reply[1])
        return int(reply[0]), list(zip(it, map(cast, it)))

    return convert


# -- server ----------------------------------------------------------------

def _info_value(text: str) -> Any:
    """One INFO value: a number, a list ("a,b"), a dict ("k=v,k2=v2") or text."""
    has_eq = "=" in text
    if "," not in text and not has_eq:
        try:
            return float(text) if "." in text else int(text)
        except ValueError:
            return text
    if not has_eq:
        return [_info_value(part) for part in text.split(",") if part]
    fields: dict[str, Any] = {}
    for part in text.split(","):
        if not part:
            continue
        if "=" in part:
            k, v = part.rsplit("=", 1)
            fields[k] = _info_value(v)
        else:
            fields[part] = True
    return fields


def parse_info(reply: Any) -> dict[str, Any]:
    """INFO text -> dict, with the same typing rules as redis-py."""
    info: dict[str, Any] = {}
    for line in str_if_bytes(reply).splitlines():
        if not line or line.startswith("#"):
            continue
        if ":" not in line:
            info.setdefault("__raw__", []).append(line)
            continue
        key, value = line.split(":", 1)
        if key == "cmdstat_host":
            # the only key that contains ':' is the 'host:' pseudo-command
            key, value = line.rsplit(":", 1)
        if key == "module":
            info.setdefault("modules", []).append(_info_value(value))
        else:
            info[key] = _info_value(value)
    return info


def parse_config_get(reply: Any) -> dict[Any, Any]:
    if not reply:
        return {}
    items = [None if x is None else str_if_bytes(x) for x in reply]
    it = iter(items)
    return dict(zip(it, it))


def parse_client_list(reply: Any) -> list[dict[str, str]]:
    clients = []
    for line in str_if_bytes(reply).splitlines():
        entry: dict[str, str] = {}
        last = None
        for token in line.split(" "):
            if "=" in token:
                key, value = token.split("=", 1)
                entry[key] = value
                last = key
            elif last is not None:
                # a value containing spaces (a unix socket path, say)
                entry[last] += " " + token
        if entry:
            clients.append(entry)
    return clients


def strs(reply: Any) -> list[Any]:
    """A list with every bytes item decoded (ACL CAT, GEOHASH, ...)."""
    return [str_if_bytes(x) for x in reply]


def bools(reply: Any) -> list[bool]:
    return [bool(x) for x in reply]


def parse_client_kill(reply: Any) -> Any:
    """CLIENT KILL: a count (filter form) or +OK (address form)."""
    if isinstance(reply, int):
        return reply
    return str_if_bytes(reply) == "OK"


def parse_geopos(reply: Any) -> list[Any]:
    return [None if p is None else (float(p[0]), float(p[1])) for p in reply]


# -- generic execute_command ----------------------------------------------

def _with_options(func: Callable[[Any], Any]) -> Callable[..., Any]:
    def callback(reply: Any, **options: Any) -> Any:
        return func(reply)

    callback.__name__ = getattr(func, "__name__", "callback")
    return callback


def _set_with_options(reply: Any, **options: Any) -> Any:
    if options.get("get"):
        return reply
    return parse_set(reply)


def _score_pairs_with_options(reply: Any, **options: Any) -> Any:
    if not options.get("withscores"):
        return reply
    return make_score_pairs(options.get("score_cast_func", float))(reply)


def _zpop_with_options(reply: Any, **options: Any) -> Any:
    return make_score_pairs(options.get("score_cast_func", float))(reply)


def _rank_with_options(reply: Any, **options: Any) -> Any:
    if not options.get("withscore"):
        return reply
    return make_rank_with_score(options.get("score_cast_func", float))(reply)


def _zadd_with_options(reply: Any, **options: Any) -> Any:
    if reply is None:
        return None
    if options.get("as_score"):
        return float(reply)
    return int(reply)


def _hscan_with_options(reply: Any, **options: Any) -> Any:
    if options.get("no_values"):
        return parse_hscan_novalues(reply)
    return parse_hscan(reply)


def _zscan_with_options(reply: Any, **options: Any) -> Any:
    return make_zscan(options.get("score_cast_func", float))(reply)


def _sort_with_options(reply: Any, **options: Any) -> Any:
    """SORT ... GET a GET b with groups=n: flat reply -> n-tuples."""
    n = options.get("groups")
    if not reply or not n:
        return reply
    return list(zip(*[reply[i::n] for i in range(n)]))


def _build_callbacks() -> dict[str, Callable[..., Any]]:
    table: dict[str, Callable[[Any], Any]] = {}
    for names, func in (
        ("COPY EXPIRE EXPIREAT HEXISTS HMSET MOVE MSETNX PERSIST PSETEX "
         "PEXPIRE PEXPIREAT RENAMENX SETEX SETNX SMOVE", bool),
        ("HINCRBYFLOAT INCRBYFLOAT", float),
        ("FLUSHALL FLUSHDB LSET LTRIM MSET PFMERGE RENAME SAVE SELECT "
         "SWAPDB WATCH UNWATCH", ok_to_bool),
        ("CONFIG_SET CONFIG_RESETSTAT CLIENT_SETNAME CLIENT_PAUSE CLIENT_SETINFO "
         "ASKING READONLY READWRITE SHUTDOWN SLAVEOF QUIT MEMORY_PURGE "
         "SCRIPT_FLUSH SCRIPT_KILL SLOWLOG_RESET ACL_LOAD ACL_SAVE ACL_SETUSER "
         "FUNCTION_DELETE FUNCTION_FLUSH FUNCTION_RESTORE XGROUP_CREATE XGROUP_SETID",
         ok_to_bool),
        ("AUTH CLIENT_UNBLOCK MODULE_LOAD MODULE_UNLOAD XGROUP_DESTROY", bool),
        ("SCRIPT_LOAD RESET ACL_WHOAMI ACL_GENPASS", str_if_bytes),
        ("ACL_CAT ACL_HELP ACL_LIST ACL_USERS GEOHASH COMMAND_GETKEYS "
         "CLUSTER_GETKEYSINSLOT CLIENT_TRACKINGINFO", strs),
        ("SCRIPT_EXISTS", bools),
        ("CLIENT_KILL", parse_client_kill),
        ("GEODIST", float_or_none),
        ("GEOPOS", parse_geopos),
        ("SDIFF SINTER SMEMBERS SUNION", to_set),
        ("BLPOP BRPOP", to_tuple_or_none),
        ("BZPOPMIN BZPOPMAX", parse_bzpop),
        ("ZINCRBY ZSCORE", float_or_none),
        ("BGREWRITEAOF BGSAVE", always_true),
        ("HGETALL", pairs_to_dict),
        ("ZMSCORE", parse_zmscore),
        ("SCAN SSCAN", parse_scan),
        ("INFO", parse_info),
        ("LASTSAVE", parse_lastsave),
        ("PING", pong_to_bool),
        ("TIME", parse_time),
        ("CONFIG_GET", parse_config_get),
        ("CLIENT_GETNAME", str_if_bytes),
        ("CLIENT_LIST", parse_client_list),
    ):
        for name in names.split():
            table[name.replace("_", " ")] = func
    callbacks: dict[str, Callable[..., Any]] = {
        name: _with_options(func) for name, func in table.items()
    }
    callbacks["SET"] = _set_with_options
    for name in ("ZRANGE", "ZRANGEBYSCORE", "ZREVRANGE", "ZREVRANGEBYSCORE",
                 "ZUNION", "ZINTER"):
        callbacks[name] = _score_pairs_with_options
    for name in ("ZPOPMIN", "ZPOPMAX"):
        callbacks[name] = _zpop_with_options
    for name in ("ZRANK", "ZREVRANK"):
        callbacks[name] = _rank_with_options
    callbacks["ZADD"] = _zadd_with_options
    callbacks["HSCAN"] = _hscan_with_options
    callbacks["ZSCAN"] = _zscan_with_options
    callbacks["SORT"] = _sort_with_options
    return callbacks


#: Upper-case command name (multi-word ones such as "CONFIG GET" with one
#: space) -> callable(reply, **options), as redis-py's response_callbacks.
RESPONSE_CALLBACKS: dict[str, Callable[..., Any]] = _build_callbacks()
