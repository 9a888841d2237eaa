"""Smoke run of the browser latency benchmark (benchmarks/browser.py --quick): it drives JupyterLab and
chromium through every click type and prints one line per type with a median and a p90, beside the
fixed-workload speed line; the kernel it measures imports this checkout."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLICK_TYPES = ("layer list", "metrics point", "filter tile", "hypergraph node", "top image")


@pytest.mark.browser
@pytest.mark.slow
def test_quick_benchmark_prints_a_line_per_click_type(chromium: str) -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "browser.py"), "--quick", "--clicks", "2"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        check=False,
    )
    out = run.stdout
    assert run.returncode == 0, out + run.stderr
    assert f"kernel imports {ROOT / 'ddp_widgets' / '__init__.py'}" in out
    for kind in CLICK_TYPES:
        line = re.search(rf"^\s+{kind}\s+(\d+)\s+(\d+) ms\s+(\d+) ms", out, re.MULTILINE)
        assert line, f"no per-click line for {kind!r}:\n{out}"
        measured, median, p90 = map(int, line.groups())
        assert measured >= 1 and 0 <= median <= p90, line.group(0)
    assert out.count("speed: python loop") == 2  # before and after the clicks
    assert re.search(r"targets \(median <= 100 ms, p90 <= 200 ms, idle machine\): (met|MISSED)", out)
