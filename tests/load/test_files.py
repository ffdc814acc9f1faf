"""CSV, JSON Lines, RESP and gzip files loaded by cpipe-load give the keyspace
`redis-cli --pipe` gives from the equivalent RESP file."""
from __future__ import annotations

import csv
import gzip
import json

import pytest

from tests.load.conftest import keyspace, redis_cli_pipe, resp, run_load

# Values a loader gets wrong: spaces, quotes, commas, CR LF inside a value,
# a RESP-looking value, non-ASCII, empty.
NAMES = ["Ada Lovelace", 'say "hi"', "a,b", "two\r\nlines", "*1\r\n$4\r\nPING", "Zoë 東京", "", "{id}"]


def people(n):
    return [{"id": str(i), "name": NAMES[i % len(NAMES)], "age": str(20 + i % 50), "city": f"c{i % 7}"}
            for i in range(n)]


def write_csv(path, rows, opener=open):
    with opener(path, "wt", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def write_resp(path, commands, opener=open):
    with opener(path, "wb") as f:
        f.write(b"".join(resp(*c) for c in commands))


def compare(db0, db1, load_server, commands, tmp_path, expect_keys):
    ref = tmp_path / "reference.resp"
    write_resp(ref, commands)
    redis_cli_pipe(load_server.port, 1, str(ref))
    got, want = keyspace(db0), keyspace(db1)
    assert len(want) == expect_keys
    assert got == want


def test_csv_hset(db0, db1, load_server, url, tmp_path):
    rows = people(3000)
    write_csv(tmp_path / "p.csv", rows)
    p = run_load(str(tmp_path / "p.csv"), "--hset", "user:{id}", "--url", url)
    assert p.returncode == 0, p.stderr.decode()
    assert "3,000 rows" in p.stderr.decode() and "3,000 acknowledged" in p.stderr.decode()
    cmds = [("HSET", f"user:{r['id']}", "name", r["name"], "age", r["age"], "city", r["city"]) for r in rows]
    compare(db0, db1, load_server, cmds, tmp_path, 3000)


def test_csv_template_with_spaces_and_expire(db0, db1, load_server, url, tmp_path):
    rows = people(1500)
    write_csv(tmp_path / "p.csv", rows)
    p = run_load(str(tmp_path / "p.csv"), "--command", "HSET 'person {id}' full_name {name} tag x-{city}-{age}",
                 "--expire", "3600", "--url", url, "--batch", "77")
    assert p.returncode == 0, p.stderr.decode()
    cmds = []
    for r in rows:
        key = f"person {r['id']}"
        cmds += [("HSET", key, "full_name", r["name"], "tag", f"x-{r['city']}-{r['age']}"), ("EXPIRE", key, "3600")]
    compare(db0, db1, load_server, cmds, tmp_path, 1500)
    assert 3590 < db0.ttl("person 1") <= 3600


def test_jsonl_set_gzip(db0, db1, load_server, url, tmp_path):
    objs = [{"id": i, "payload": NAMES[i % len(NAMES)], "n": 1.5, "ok": True, "nested": {"a": [1, 2]}}
            for i in range(2000)]
    with gzip.open(tmp_path / "e.data", "wt", encoding="utf-8") as f:  # no telling extension: magic bytes
        f.write("\n".join(json.dumps(o, ensure_ascii=False) for o in objs) + "\n")
    p = run_load(str(tmp_path / "e.data"), "--format", "jsonl", "--set", "event:{id}", "payload", "--url", url)
    assert p.returncode == 0, p.stderr.decode()
    compare(db0, db1, load_server, [("SET", f"event:{o['id']}", o["payload"]) for o in objs], tmp_path, 2000)


def test_jsonl_hset_value_text(db0, db1, load_server, url, tmp_path):
    objs = [{"id": i, "n": 1.5, "ok": True, "no": None, "nested": {"a": [1, 2]}, "s": "x y"} for i in range(500)]
    (tmp_path / "h.jsonl").write_text("\n".join(json.dumps(o) for o in objs) + "\n\n")
    p = run_load(str(tmp_path / "h.jsonl"), "--hset", "h:{id}", "--url", url)
    assert p.returncode == 0, p.stderr.decode()
    cmds = [("HSET", f"h:{o['id']}", "n", "1.5", "ok", "true", "nested", '{"a":[1,2]}', "s", "x y") for o in objs]
    compare(db0, db1, load_server, cmds, tmp_path, 500)


@pytest.mark.parametrize("compressed", [False, True])
def test_resp_passthrough(db0, db1, load_server, url, tmp_path, compressed):
    cmds = []
    for i in range(5000):
        v = NAMES[i % len(NAMES)] + "x" * (i % 300)
        cmds.append(("SET", f"s:{i}", v))
        cmds.append(("RPUSH", f"l:{i % 50}", v, str(i)))
        cmds.append(("ZADD", "z", str(i), f"m{i}"))
        if i % 10 == 0:
            cmds.append(("SADD", "set", "a" * 70000 + str(i)))  # longer than a read chunk
            cmds.append(("EXPIRE", f"s:{i}", "1000"))
    path = tmp_path / ("d.resp.gz" if compressed else "d.resp")
    write_resp(path, cmds, gzip.open if compressed else open)
    p = run_load(str(path), "--url", url)
    assert p.returncode == 0, p.stderr.decode()
    assert f"{len(cmds):,} commands sent, {len(cmds):,} acknowledged" in p.stderr.decode()
    compare(db0, db1, load_server, cmds, tmp_path, 5000 + 50 + 2)


def test_stdin_csv_gzip(db0, db1, load_server, url, tmp_path):
    rows = people(1000)
    write_csv(tmp_path / "p.csv.gz", rows, gzip.open)
    p = run_load("-", "--set", "name:{id}", "name", "--url", url, stdin=(tmp_path / "p.csv.gz").read_bytes())
    assert p.returncode == 0, p.stderr.decode()
    compare(db0, db1, load_server, [("SET", f"name:{r['id']}", r["name"]) for r in rows], tmp_path, 1000)


def test_stdin_resp_sniffed(db0, db1, load_server, url, tmp_path):
    cmds = [("SET", f"k{i}", f"v {i}") for i in range(1000)]
    p = run_load("-", "--url", url, stdin=b"".join(resp(*c) for c in cmds))
    assert p.returncode == 0, p.stderr.decode()
    compare(db0, db1, load_server, cmds, tmp_path, 1000)
