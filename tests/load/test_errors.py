"""Malformed input: a message with the line number and the column; what was
read before it is sent and acknowledged; --on-error stop|skip|log; error replies."""
from __future__ import annotations

import gzip

import pytest

from tests.load.conftest import resp, run_load

CSV = "id,name,age\n1,Ada,36\n2,Bob,40\n3,Cy\n4,\"Dee\",50\n5,Eve,22\n"


def err(p) -> str:
    return p.stderr.decode()


def test_csv_missing_column_stops_after_sending_what_came_before(db0, url, tmp_path):
    (tmp_path / "u.csv").write_text(CSV)
    p = run_load(str(tmp_path / "u.csv"), "--command", "HSET user:{id} name {name} age {age}", "--url", url)
    assert p.returncode == 3, err(p)
    assert "line 4: missing column 'age' (the row has 2 fields, the header 3)" in err(p)
    assert "2 commands sent, 2 acknowledged" in err(p)
    assert sorted(db0.keys()) == [b"user:1", b"user:2"]


def test_csv_template_column_not_in_header_is_a_usage_error(db0, url, tmp_path):
    (tmp_path / "u.csv").write_text(CSV)
    p = run_load(str(tmp_path / "u.csv"), "--command", "SET user:{id} {email}", "--url", url)
    assert p.returncode == 2
    assert "column 'email' is not in the CSV header (id, name, age)" in err(p)
    assert db0.dbsize() == 0


def test_csv_bad_quoting_line_number(db0, url, tmp_path):
    (tmp_path / "q.csv").write_text('id,name\n1,ok\n2,"multi\nline"\n3,"bad"quote\n4,fine\n')
    p = run_load(str(tmp_path / "q.csv"), "--set", "k:{id}", "name", "--url", url)
    assert p.returncode == 3, err(p)
    assert "line 5: bad CSV: ',' expected after '\"'" in err(p)
    assert db0.get("k:2") == b"multi\nline"
    assert db0.dbsize() == 2


@pytest.mark.parametrize("mode,code", [("skip", 1), ("log", 1)])
def test_on_error_skip_and_log_go_on(db0, url, tmp_path, mode, code):
    (tmp_path / "u.csv").write_text(CSV + "6,Fay\n")
    p = run_load(str(tmp_path / "u.csv"), "--command", "HSET user:{id} name {name} age {age}",
                 "--on-error", mode, "--url", url)
    assert p.returncode == code, err(p)
    assert sorted(db0.keys()) == [b"user:1", b"user:2", b"user:4", b"user:5"]
    assert "6 rows, 2 malformed, 4 commands sent, 4 acknowledged" in err(p)
    logged = [ln for ln in err(p).splitlines() if "missing column" in ln and "first error" not in ln]
    if mode == "log":
        assert len(logged) == 2 and "line 4:" in logged[0] and "line 7:" in logged[1]
    else:
        assert logged == []
        assert "first error: line 4: missing column 'age'" in err(p)


def test_jsonl_bad_json_and_missing_field(db0, url, tmp_path):
    lines = ['{"id": 1, "v": "a"}', '{"id": 2, "v": "b"', '[1, 2]', '{"id": 4}', '{"id": 5, "v": null}',
             '{"id": 6, "v": "f"}']
    (tmp_path / "e.jsonl").write_text("\n".join(lines) + "\n")
    p = run_load(str(tmp_path / "e.jsonl"), "--set", "e:{id}", "v", "--on-error", "log", "--url", url)
    assert p.returncode == 1, err(p)
    e = err(p)
    assert "line 2: bad JSON: Expecting ',' delimiter at column 19" in e
    assert "line 3: not a JSON object (a list)" in e
    assert "line 4: missing field 'v'" in e
    assert "line 5: missing field 'v'" in e
    assert sorted(db0.keys()) == [b"e:1", b"e:6"]


def test_jsonl_stop_at_bad_json(db0, url, tmp_path):
    (tmp_path / "e.jsonl").write_text('{"id": 1, "v": "a"}\n{"id": 2, "v": "b"}\nnot json\n{"id": 4, "v": "d"}\n')
    p = run_load(str(tmp_path / "e.jsonl"), "--set", "e:{id}", "v", "--url", url)
    assert p.returncode == 3
    assert "stopped at the first error: line 3: bad JSON: Expecting value at column 1" in err(p)
    assert "2 commands sent, 2 acknowledged" in err(p)
    assert db0.dbsize() == 2


def test_truncated_resp(db0, url, tmp_path):
    data = b"".join(resp("SET", f"k{i}", "v\r\nx") for i in range(300)) + b"*3\r\n$3\r\nSET\r\n$2\r\nkz\r\n$5\r\nab"
    (tmp_path / "t.resp").write_bytes(data)
    p = run_load(str(tmp_path / "t.resp"), "--url", url)
    assert p.returncode == 3, err(p)
    assert "line 2401 (command #301, byte 9790)" in err(p) and "truncated input" in err(p)
    assert "300 commands sent, 300 acknowledged" in err(p)
    assert db0.dbsize() == 300 and db0.get("k7") == b"v\r\nx"


def test_truncated_gzip_resp(db0, url, tmp_path):
    data = gzip.compress(b"".join(resp("SET", f"k{i}", "v" * 50) for i in range(20000)))
    (tmp_path / "t.resp.gz").write_bytes(data[:len(data) // 2])
    p = run_load(str(tmp_path / "t.resp.gz"), "--url", url)
    assert p.returncode == 3, err(p)
    assert "cannot read on" in err(p) or "truncated" in err(p)
    sent = db0.dbsize()
    assert 0 < sent < 20000
    assert f"{sent:,} acknowledged" in err(p)


def test_error_replies_named_by_line(db0, url, tmp_path):
    db0.rpush("user:2", "a list")
    (tmp_path / "u.csv").write_text("id,name\n1,a\n2,b\n3,c\n")
    p = run_load(str(tmp_path / "u.csv"), "--hset", "user:{id}", "--on-error", "log", "--url", url)
    assert p.returncode == 1, err(p)
    assert "line 3: the server refused HSET: WRONGTYPE" in err(p)
    assert "3 rows, 0 malformed, 3 commands sent, 3 acknowledged, 1 error replies" in err(p)
    assert db0.hgetall("user:3") == {b"name": b"c"}


def test_error_reply_stops(db0, url, tmp_path):
    db0.rpush("user:2", "a list")
    (tmp_path / "u.csv").write_text("id,name\n" + "".join(f"{i},n{i}\n" for i in range(1, 5001)))
    p = run_load(str(tmp_path / "u.csv"), "--hset", "user:{id}", "--url", url, "--batch", "100")
    assert p.returncode == 3, err(p)
    assert "stopped at the first error: line 3: the server refused HSET: WRONGTYPE" in err(p)
    # what had been sent is acknowledged; nothing is read after the batch that failed
    n = db0.dbsize() - 1
    assert 2 <= n < 5000
    assert "5,000 rows" not in err(p)


def test_resp_error_reply_named_by_command_number(db0, url, tmp_path):
    (tmp_path / "e.resp").write_bytes(resp("SET", "a", "1") + resp("INCR", "a", "x") + resp("SET", "b", "2"))
    p = run_load(str(tmp_path / "e.resp"), "--url", url, "--on-error", "skip")
    assert p.returncode == 1
    assert "first error: command #2: the server refused it: wrong number of arguments" in err(p)
    assert db0.get("b") == b"2"


def test_cannot_connect(tmp_path):
    from tests._servers import free_port

    (tmp_path / "u.csv").write_text("id,v\n1,a\n")
    p = run_load(str(tmp_path / "u.csv"), "--hset", "u:{id}", "--url", f"redis://127.0.0.1:{free_port()}")
    assert p.returncode == 4
    assert "cannot connect to redis://127.0.0.1:" in err(p)


def test_missing_file_and_bad_template(tmp_path):
    p = run_load(str(tmp_path / "nope.csv"), "--hset", "x")
    assert p.returncode == 2 and "No such file or directory" in err(p)
    (tmp_path / "u.csv").write_text("id\n1\n")
    p = run_load(str(tmp_path / "u.csv"), "--command", "SET {id")
    assert p.returncode == 2 and "unbalanced '{'" in err(p)
    p = run_load(str(tmp_path / "u.csv"))
    assert p.returncode == 2 and "give exactly one of --command, --set, --hset" in err(p)
