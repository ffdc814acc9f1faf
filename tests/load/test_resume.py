"""--skip/--limit, --dry-run, and a connection lost mid-load: the resume point
it reports, given to --skip, completes the keyspace."""
from __future__ import annotations

import re
import time

import redis

from tests._servers import free_port, start_real_server
from tests.load.conftest import keyspace, popen_load, redis_cli_pipe, resp, run_load


def err(p) -> str:
    return p.stderr.decode()


def test_skip_and_limit_csv(db0, url, tmp_path):
    (tmp_path / "u.csv").write_text("id,v\n" + "".join(f"{i},v{i}\n" for i in range(100)))
    p = run_load(str(tmp_path / "u.csv"), "--set", "k:{id}", "v", "--skip", "10", "--limit", "20", "--url", url)
    assert p.returncode == 0, err(p)
    assert sorted(db0.keys()) == sorted(f"k:{i}".encode() for i in range(10, 30))
    assert "20 rows (after skipping 10)" in err(p)


def test_skip_counts_bad_rows_jsonl(db0, url, tmp_path):
    lines = ['{"id": 0, "v": "a"}', "oops", '{"id": 2, "v": "c"}', '{"id": 3, "v": "d"}']
    (tmp_path / "e.jsonl").write_text("\n".join(lines) + "\n")
    p = run_load(str(tmp_path / "e.jsonl"), "--set", "k:{id}", "v", "--skip", "2", "--url", url)
    assert p.returncode == 0, err(p)
    assert sorted(db0.keys()) == [b"k:2", b"k:3"]


def test_skip_and_limit_resp_commands(db0, url, tmp_path):
    (tmp_path / "d.resp").write_bytes(b"".join(resp("SET", f"k{i}", f"a\r\n{i}") for i in range(5000)))
    p = run_load(str(tmp_path / "d.resp"), "--skip", "1234", "--limit", "2000", "--url", url)
    assert p.returncode == 0, err(p)
    assert db0.dbsize() == 2000
    assert db0.get("k1234") == b"a\r\n1234" and db0.get("k3233") == b"a\r\n3233"
    assert db0.get("k1233") is None and db0.get("k3234") is None


def test_dry_run_prints_and_sends_nothing(db0, url, tmp_path):
    (tmp_path / "u.csv").write_text('id,name\n1,Ada Lovelace\n2,"say ""hi"""\n3,c\n4,d\n')
    before = db0.info("commandstats")
    p = run_load(str(tmp_path / "u.csv"), "--command", "HSET user:{id} name {name}", "--expire", "60",
                 "--dry-run", "3", "--url", url)
    assert p.returncode == 0, err(p)
    assert p.stdout.decode().splitlines() == [
        'HSET user:1 name "Ada Lovelace"', "EXPIRE user:1 60", 'HSET user:2 name "say \\"hi\\""']
    assert "4 rows, 0 malformed, 8 commands built, none sent (dry run)" in err(p)
    assert db0.dbsize() == 0
    after = db0.info("commandstats")
    assert after.get("cmdstat_hset") == before.get("cmdstat_hset")
    # and it never connects: a URL where nothing listens is fine
    p = run_load(str(tmp_path / "u.csv"), "--hset", "user:{id}", "--dry-run",
                 "--url", f"redis://127.0.0.1:{free_port()}")
    assert p.returncode == 0, err(p)
    assert len(p.stdout.decode().splitlines()) == 4


def test_dry_run_resp_reports_bad_framing(db0, url, tmp_path):
    (tmp_path / "d.resp").write_bytes(resp("SET", "a", "1") + b"*2\r\n$3\r\nGET\r\n$x\r\n")
    p = run_load(str(tmp_path / "d.resp"), "--dry-run", "--url", url)
    assert p.returncode == 3
    assert p.stdout.decode() == "SET a 1\n"
    assert "line 8 (command #2, byte 27): bad bulk header b'$x'" in err(p)
    assert db0.dbsize() == 0


def _kill_mid_load(srv, args, threshold):
    """Start a load, kill -9 the server once `threshold` keys are in, restart it
    (the AOF, fsynced before every reply, keeps what was acknowledged)."""
    r = redis.Redis(host="127.0.0.1", port=srv.port, protocol=2, socket_timeout=10)
    proc = popen_load(*args, "--progress", "none", "--url", f"redis://127.0.0.1:{srv.port}")
    deadline = time.monotonic() + 60
    while r.dbsize() < threshold:
        assert proc.poll() is None, "the load ended before the server was killed: " + proc.stderr.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.005)
    srv.proc.kill()
    srv.proc.wait(10)
    _out, stderr = proc.communicate(timeout=60)
    stderr = stderr.decode()
    assert proc.returncode == 4, stderr
    m = re.search(r"connection lost after ([\d,]+) acknowledged commands: .*; resume with --skip (\d+)", stderr)
    assert m, stderr
    srv.restart()
    r.close()
    return int(m.group(1).replace(",", "")), int(m.group(2)), stderr


def test_connection_lost_then_skip_resumes_csv(tmp_path):
    n = 300_000
    (tmp_path / "u.csv").write_text("id,name,age\n" + "".join(f"{i},name {i},{i % 90}\n" for i in range(n)))
    srv = start_real_server("--appendonly", "yes", "--appendfsync", "always")
    try:
        args = [str(tmp_path / "u.csv"), "--hset", "user:{id}", "--expire", "5000", "--batch", "500"]
        acked, resume, stderr = _kill_mid_load(srv, args, 20_000)
        assert 0 < resume < n and acked // 2 <= resume
        r = redis.Redis(host="127.0.0.1", port=srv.port, protocol=2, socket_timeout=10)
        # everything acknowledged is there: every row before the resume point
        assert all(r.exists(f"user:{i}") for i in range(0, resume, 997))
        assert r.ttl(f"user:{resume - 1}") > 0
        p = run_load(*args, "--skip", str(resume), "--url", f"redis://127.0.0.1:{srv.port}")
        assert p.returncode == 0, err(p)
        assert f"{n - resume:,} rows (after skipping {resume:,})" in err(p)
        assert r.dbsize() == n
        assert r.hgetall(f"user:{n - 1}") == {b"name": f"name {n - 1}".encode(), b"age": str((n - 1) % 90).encode()}
        assert r.ttl("user:0") > 0 and r.ttl(f"user:{n - 1}") > 0
        r.close()
    finally:
        srv.stop()


def test_connection_lost_then_skip_resumes_resp(tmp_path):
    n = 300_000
    cmds = [("SET", f"k{i}", f"v\r\n{i}") for i in range(n)]
    path = tmp_path / "d.resp"
    path.write_bytes(b"".join(resp(*c) for c in cmds))
    srv = start_real_server("--appendonly", "yes", "--appendfsync", "always")
    ref = start_real_server()
    try:
        acked, resume, stderr = _kill_mid_load(srv, [str(path)], 20_000)
        assert resume == acked and 0 < resume < n
        url = f"redis://127.0.0.1:{srv.port}"
        p = run_load(str(path), "--skip", str(resume), "--url", url)
        assert p.returncode == 0, err(p)
        redis_cli_pipe(ref.port, 0, str(path))
        a = redis.Redis(host="127.0.0.1", port=srv.port, protocol=2)
        b = redis.Redis(host="127.0.0.1", port=ref.port, protocol=2)
        assert a.dbsize() == n
        assert keyspace(a) == keyspace(b)
        a.close()
        b.close()
    finally:
        srv.stop()
        ref.stop()
