"""Both request parsers on byte literals: complete, partial, malformed.
The hiredis-backed parser must agree with the pure-Python reference on
every input, however the input is split into chunks."""
import random

import pytest

from cpipe.server import limits
from cpipe.server.parser import PROTOCOL_ERROR, HiredisParser, PyParser, parse_ll, split_args

PARSERS = {"python": PyParser, "hiredis": HiredisParser}


def feed_all(parser, chunks):
    """Requests parsed from the chunks, then the parser's error state; the
    PROTOCOL_ERROR marker must end the output exactly when there is one."""
    out = []
    for ch in chunks:
        got = parser.feed(ch)
        marked = bool(got) and got[-1] is PROTOCOL_ERROR
        out += got[:-1] if marked else got
        assert marked == (parser.error is not None or parser.overflow)
        if marked:
            break
    assert PROTOCOL_ERROR not in out
    return out, parser.error, parser.overflow


@pytest.fixture(params=sorted(PARSERS))
def make(request):
    return PARSERS[request.param]


GOOD = [
    (b"*1\r\n$4\r\nPING\r\n", [[b"PING"]]),
    (b"*2\r\n$3\r\nGET\r\n$0\r\n\r\n", [[b"GET", b""]]),
    (b"*2\r\n$4\r\nECHO\r\n$4\r\n\r\n\r\n\r\n", [[b"ECHO", b"\r\n\r\n"]]),
    (b"*0\r\n*-1\r\n*1\r\n$1\r\nx\r\n", [[b"x"]]),
    (b"PING\r\n", [[b"PING"]]),
    (b"PING\n", [[b"PING"]]),
    (b"  SET  a   b  \r\n", [[b"SET", b"a", b"b"]]),
    (b"SET k \"a b\\x41\\n\\\"\"\r\n", [[b"SET", b"k", b"a bA\n\""]]),
    (b"SET k 'it\\'s'\r\n", [[b"SET", b"k", b"it's"]]),
    (b"SET k \"\"\r\n", [[b"SET", b"k", b""]]),
    (b"\r\n\n \r\n", []),
    (b"*1\r\n$4\r\nPINGxx", [[b"PING"]]),  # Redis skips 2 bytes unchecked
    (b"*1\r\n$4\r\nPING\r\nPING\r\n*1\r\n$4\r\nPING\r\n", [[b"PING"]] * 3),
    (b"*3\r\n$3\r\nSET\r\n$1\r\n\x00\r\n$3\r\n\xff\x00\xfe\r\n", [[b"SET", b"\x00", b"\xff\x00\xfe"]]),
]

BAD = [
    (b"*x\r\n", b"Protocol error: invalid multibulk length"),
    (b"*2147483648\r\n", b"Protocol error: invalid multibulk length"),
    (b"*01\r\n", b"Protocol error: invalid multibulk length"),
    (b"*1\r\n$x\r\n", b"Protocol error: invalid bulk length"),
    (b"*1\r\n$-1\r\n", b"Protocol error: invalid bulk length"),
    (b"*1\r\n$536870913\r\n", b"Protocol error: invalid bulk length"),
    (b"*1\r\n:1\r\n", b"Protocol error: expected '$', got ':'"),
    (b"*1\r\n*1\r\n$1\r\nx\r\n", b"Protocol error: expected '$', got '*'"),
    (b"*2\r\n$1\r\na\r\n+OK\r\n", b"Protocol error: expected '$', got '+'"),
    (b"SET \"a\r\n", b"Protocol error: unbalanced quotes in request"),
    (b"SET 'a\r\n", b"Protocol error: unbalanced quotes in request"),
    (b"SET \"a\"b\r\n", b"Protocol error: unbalanced quotes in request"),
    (b"x" * (limits.PROTO_INLINE_MAX_SIZE + 1), b"Protocol error: too big inline request"),
    (b"*" + b"1" * (limits.PROTO_INLINE_MAX_SIZE + 1), b"Protocol error: too big mbulk count string"),
    (b"*1\r\n$" + b"1" * (limits.PROTO_INLINE_MAX_SIZE + 1),
     b"Protocol error: too big bulk count string"),
]


@pytest.mark.parametrize("data, expected", GOOD)
def test_good(make, data, expected):
    assert feed_all(make(), [data]) == (expected, None, False)


@pytest.mark.parametrize("data, expected", GOOD)
def test_good_byte_by_byte(make, data, expected):
    chunks = [data[i:i + 1] for i in range(len(data))]
    assert feed_all(make(), chunks) == (expected, None, False)


@pytest.mark.parametrize("data, err", BAD)
def test_bad(make, data, err):
    reqs, error, overflow = feed_all(make(), [b"PING\r\n" + data])
    assert (reqs, error, overflow) == ([[b"PING"]], err, False)


def test_error_is_sticky(make):
    p = make()
    p.feed(b"*x\r\n")
    assert p.feed(b"PING\r\n") == []


def test_partial_keeps_state(make):
    p = make()
    assert p.feed(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nab") == []
    assert p.feed(b"c") == []
    assert p.feed(b"de\r") == []
    assert p.feed(b"\n*1\r\n$4\r\nPI") == [[b"SET", b"k", b"abcde"]]
    assert p.feed(b"NG\r\n") == [[b"PING"]]


def test_big_bulk_in_pieces(make):
    value = bytes(range(256)) * 1000
    data = b"*2\r\n$4\r\nECHO\r\n$%d\r\n%s\r\n*1\r\n$4\r\nPING\r\n" % (len(value), value)
    p = make()
    out = []
    for i in range(0, len(data), 7777):
        out += p.feed(data[i:i + 7777])
    assert out == [[b"ECHO", value], [b"PING"]]


def test_query_buffer_limit(make):
    p = make(query_limit=1000)
    assert p.feed(b"*2\r\n$4\r\nECHO\r\n$2000\r\n" + b"x" * 500) == []
    assert not p.overflow
    assert p.feed(b"x" * 600) == [PROTOCOL_ERROR]
    assert p.overflow and p.error is None
    p = make(query_limit=1000)
    p.feed(b"*100\r\n" + b"$1\r\nx\r\n" * 30)  # many small arguments count too
    assert p.overflow


def test_unauthenticated_limits(make):
    p = make(auth_required=True)
    p.feed(b"*11\r\n")
    assert p.error == b"Protocol error: unauthenticated multibulk length"
    p = make(auth_required=True)
    p.feed(b"*1\r\n$16385\r\n")
    assert p.error == b"Protocol error: unauthenticated bulk length"
    p = make(auth_required=True)
    assert p.feed(b"*10\r\n" + b"$1\r\nx\r\n" * 10) == [[b"x"] * 10]
    p.auth_required = False
    assert p.feed(b"*11\r\n" + b"$1\r\nx\r\n" * 11) == [[b"x"] * 11]


def test_parse_ll():
    assert [parse_ll(x) for x in (b"0", b"-1", b"123", b"9223372036854775807", b"-9223372036854775808")] \
        == [0, -1, 123, 2**63 - 1, -2**63]
    for bad in (b"", b"-", b"+1", b"01", b"-0", b" 1", b"1 ", b"1_0", b"9223372036854775808", b"1.0"):
        assert parse_ll(bad) is None, bad


def test_split_args():
    assert split_args(b'a "b c" \'d e\'') == [b"a", b"b c", b"d e"]
    assert split_args(b'"\\x4g"') == [b"x4g"]
    assert split_args(b'"\\n\\r\\t\\b\\a\\z"') == [b"\n\r\t\b\az"]
    assert split_args(b'a"b c" d') == [b"ab c", b"d"]
    assert split_args(b'a"b c"d') is None  # a closing quote must end the token
    assert split_args(b"\x0bx\x0cy") == [b"x\x0cy"]
    assert split_args(b'"unterminated') is None


def _random_stream(rng):
    """Valid requests plus, sometimes, trailing garbage."""
    parts = []
    for _ in range(rng.randint(1, 20)):
        kind = rng.random()
        if kind < 0.7:
            args = [bytes(rng.choice([b"a", b"\r\n", b"$", b"*", b"+", b"\x00", b"xyz"]) * rng.randint(0, 3))
                    for _ in range(rng.randint(1, 5))]
            parts.append(b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args))
        elif kind < 0.85:
            parts.append(b"ECHO " + bytes(rng.choice(b"abc \"'") for _ in range(rng.randint(0, 6))) + b"\r\n")
        else:
            parts.append(rng.choice([b"*0\r\n", b"*-1\r\n", b"\r\n", b"*1\r\n:1\r\n", b"*x\r\n",
                                     b"*1\r\n$-2\r\n", b"*2\r\n$1\r\na\r\n+b\r\n"]))
    return b"".join(parts)


def test_parsers_agree_on_random_streams():
    rng = random.Random(1234)
    for _ in range(1500):
        data = _random_stream(rng)
        cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(0, 6))))
        chunks = [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]
        reference = feed_all(PyParser(), [data])
        assert feed_all(PyParser(), chunks) == reference, data
        assert feed_all(HiredisParser(), chunks) == reference, data
        assert feed_all(HiredisParser(), [data]) == reference, data
