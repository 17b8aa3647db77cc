"""``umlpy trace -ff -o FILE``: one file per task, FILE.TID, as strace writes them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_umlpy

pytestmark = pytest.mark.usefixtures("traceable")


def test_one_file_per_task_without_prefixes(tmp_path: Path) -> None:
    base = tmp_path / "t"
    r = run_umlpy("trace", "-ff", "-o", str(base), "--", "sh", "-c", "ls / >/dev/null; cat /etc/hostname >/dev/null")
    assert r.returncode == 0, r.stderr
    files = sorted(tmp_path.glob("t.*"), key=lambda p: int(p.suffix[1:]))
    assert len(files) == 3  # sh, ls, cat
    texts = [f.read_text() for f in files]
    assert texts[0].startswith('execve("/usr/bin/sh"')
    assert any('execve("/usr/bin/ls"' in t for t in texts[1:]) and any('execve("/usr/bin/cat"' in t for t in texts[1:])
    for t in texts:
        assert t.rstrip().endswith("+++ exited with 0 +++")
        assert "[pid" not in t and "resumed>" not in t and "<unfinished" not in t
