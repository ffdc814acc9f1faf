"""The README's bulk example runs as written (against the test server)."""
from __future__ import annotations

import contextlib
import io
import os
import re

README = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")


def test_readme_bulk_example_runs(r, real_server):
    text = open(README, encoding="utf-8").read()
    section = text.split("### Bulk writes", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    code = code.replace("port=6379", f"port={real_server.port}")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    assert out.getvalue().split() == ["1000001", "0"]
    assert r.hget("user:999999", "visits") == b"999999" and r.get("loaded") == b"1"
