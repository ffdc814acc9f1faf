"""Inline commands (`SET k v` on a line) and empty arrays in RESP input:
counted as the server counts them (one command per non-blank line, none for
`*0`), so the keyspace is redis-cli --pipe's, and --skip/--limit and the
resume point count the same commands."""
from __future__ import annotations

import re
import signal
import time

from tests.load.conftest import keyspace, popen_load, redis_cli_pipe, resp, run_load


def err(p) -> str:
    return p.stderr.decode()


def mixed(n: int) -> tuple:
    """(data, commands): RESP and inline commands interleaved, with blank
    lines, `*0` and `*-1`, quoted inline arguments, LF-only line ends."""
    parts = []
    count = 0
    for i in range(n):
        parts.append(resp("SET", f"r:{i}", f"v\r\n{i}"))
        parts.append(b"SET i:%d plain%d\r\n" % (i, i))
        parts.append(b"RPUSH l:%d a b\n" % (i % 10))  # LF alone ends an inline line too
        count += 3
        if i % 7 == 0:
            parts.append(b"\r\n   \r\n*0\r\n*-1\r\n")  # no command, no reply
            parts.append(b'SET q:%d "two words" \r\n' % i)  # the server unquotes
            count += 1
    return b"".join(parts), count


def test_inline_and_resp_mixed_matches_redis_cli(db0, db1, load_server, url, tmp_path):
    data, count = mixed(30_000)  # several read chunks: lines and commands cut across them
    path = tmp_path / "m.resp"
    path.write_bytes(data)
    p = run_load(str(path), "--url", url)
    assert p.returncode == 0, err(p)
    assert f"{count:,} commands sent, {count:,} acknowledged" in err(p)
    redis_cli_pipe(load_server.port, 1, str(path))
    got, want = keyspace(db0), keyspace(db1)
    assert len(want) == 30_000 * 2 + 10 + len(range(0, 30_000, 7))
    assert got == want
    assert db0.get("q:7") == b"two words"


def test_inline_from_stdin(db0, db1, load_server, url, tmp_path):
    data, count = mixed(2000)
    p = run_load("-", "--format", "resp", "--url", url, stdin=data)
    assert p.returncode == 0, err(p)
    assert f"{count:,} commands sent, {count:,} acknowledged" in err(p)
    (tmp_path / "m.resp").write_bytes(data)
    redis_cli_pipe(load_server.port, 1, str(tmp_path / "m.resp"))
    assert keyspace(db0) == keyspace(db1)


def test_inline_skip_and_limit_count_lines(db0, url, tmp_path):
    # Python's scanner counts here (--skip, --limit): blank lines and *0 are no command.
    data = b"".join(b"SET k%d %d\r\n\r\n*0\r\n" % (i, i) if i % 2 else resp("SET", f"k{i}", str(i))
                    for i in range(100))
    (tmp_path / "s.resp").write_bytes(data)
    p = run_load(str(tmp_path / "s.resp"), "--skip", "10", "--limit", "20", "--url", url)
    assert p.returncode == 0, err(p)
    assert sorted(db0.keys()) == sorted(f"k{i}".encode() for i in range(10, 30))
    assert "20 commands (after skipping 10)" in err(p)
    db0.flushall()
    p = run_load(str(tmp_path / "s.resp"), "--skip", "10", "--url", url)  # the engine counts after the skip
    assert p.returncode == 0, err(p)
    assert sorted(db0.keys()) == sorted(f"k{i}".encode() for i in range(10, 100))
    assert "90 commands (after skipping 10)" in err(p)


def test_dry_run_prints_inline_commands(db0, url, tmp_path):
    (tmp_path / "d.resp").write_bytes(resp("SET", "a", "1") + b"SET b 2\r\n\r\n*0\r\nINCR c\n")
    p = run_load(str(tmp_path / "d.resp"), "--dry-run", "--url", url)
    assert p.returncode == 0, err(p)
    assert p.stdout.decode() == "SET a 1\nSET b 2\nINCR c\n"
    assert "3 commands" in err(p)
    assert db0.dbsize() == 0


def test_bad_framing_after_good_commands_named_and_the_good_ones_sent(db0, url, tmp_path):
    good = b"".join(resp("SET", f"k{i}", "v" * 100) for i in range(5000))  # more than a read chunk
    data = good + b"SET inline 1\r\n" + b"*2\r\n$3\r\nGET\r\n$x\r\n" + resp("SET", "after", "1")
    (tmp_path / "b.resp").write_bytes(data)
    p = run_load(str(tmp_path / "b.resp"), "--url", url)
    assert p.returncode == 3, err(p)
    line = good.count(b"\n") + 2
    assert f"line {line} (command #5002, byte {len(good) + 14}): bad bulk header b'$x'" in err(p)
    assert "5,001 commands sent, 5,001 acknowledged" in err(p)
    assert db0.dbsize() == 5001 and db0.get("inline") == b"1" and db0.get("after") is None


def test_bad_framing_from_stdin_sends_the_good_ones(db0, url):
    good = b"".join(resp("SET", f"k{i}", "v" * 100) for i in range(5000))
    data = good + b"SET inline 1\r\n" + b"*2\r\n$3\r\nGET\r\n$x\r\n" + resp("SET", "after", "1")
    p = run_load("-", "--format", "resp", "--url", url, stdin=data)
    assert p.returncode == 3, err(p)
    assert "command #5002" in err(p)
    assert "5,001 commands sent, 5,001 acknowledged" in err(p)
    assert db0.dbsize() == 5001 and db0.get("after") is None


def test_quoted_inline_in_dry_run_is_refused_not_altered(db0, url, tmp_path):
    (tmp_path / "q.resp").write_bytes(b'SET k "a b"\r\n')
    p = run_load(str(tmp_path / "q.resp"), "--dry-run", "--url", url)
    assert p.returncode == 3, err(p)
    assert "an inline command with quotes" in err(p)
    assert db0.dbsize() == 0


def test_argument_not_ended_by_crlf_stops_after_the_good_ones(db0, url, tmp_path):
    # The engine checks the CRLF after each argument (Python's scanner skips
    # those two bytes, as the server does): the engine's message, and the
    # whole commands before the bad one are sent.
    good = b"".join(resp("SET", f"k{i}", "v" * 100) for i in range(5000))
    data = good + b"*3\r\n$3\r\nSET\r\n$1\r\nbXY$1\r\n1\r\n" + resp("SET", "after", "1")
    (tmp_path / "c.resp").write_bytes(data)
    p = run_load(str(tmp_path / "c.resp"), "--url", url)
    assert p.returncode == 3, err(p)
    assert "command #5001" in err(p) and "not ended by CRLF" in err(p)
    assert "5,000 commands sent, 5,000 acknowledged" in err(p)
    assert db0.dbsize() == 5000 and db0.get("after") is None


def test_truncated_stdin(db0, url):
    data = b"".join(resp("SET", f"k{i}", "v") for i in range(300)) + b"*3\r\n$3\r\nSET\r\n$2\r\nkz\r\n$5\r\nab"
    p = run_load("-", "--format", "resp", "--url", url, stdin=data)
    assert p.returncode == 3, err(p)
    assert "command #301: truncated input" in err(p)
    assert "300 commands sent, 300 acknowledged" in err(p)
    assert db0.dbsize() == 300


def test_interrupted_then_skip_resumes_resp(db0, db1, load_server, url, tmp_path):
    # The engine's chunks are cut anywhere: Ctrl-C can leave a command half
    # sent. It never runs; the resume point counts acknowledged commands.
    n = 300_000
    path = tmp_path / "d.resp"
    path.write_bytes(b"".join(resp("SET", f"k{i}", f"v\r\n{i}") for i in range(n)))
    proc = popen_load(str(path), "--progress", "none", "--url", url)
    deadline = time.monotonic() + 60
    while db0.dbsize() < 20_000:
        assert proc.poll() is None, "the load ended before it was interrupted: " + proc.stderr.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    _out, stderr = proc.communicate(timeout=60)
    stderr = stderr.decode()
    assert proc.returncode == 130, stderr
    # Interrupted in the engine's wait, the bulk gives the connection up
    # ("connection lost ... interrupted by a signal"); elsewhere "interrupted".
    m = re.search(r"interrupted.*; resume with --skip (\d+)", stderr)
    assert m, stderr
    resume = int(m.group(1))
    # Sent but not acknowledged when the connection was given up: they may
    # have run (SET twice is harmless); the acknowledged ones surely did.
    assert 0 < resume <= db0.dbsize() < n
    p = run_load(str(path), "--skip", str(resume), "--url", url)
    assert p.returncode == 0, err(p)
    redis_cli_pipe(load_server.port, 1, str(path))
    assert keyspace(db0) == keyspace(db1)
