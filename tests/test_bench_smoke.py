"""The benchmark runner works end to end on a tiny setting (no figures are checked)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_runner_quick(tmp_path):
    out = tmp_path / "RESULTS.md"
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--systems", "inprocess,inprocess-postgres,waypoint-sqlite",
         "--out", str(out)],
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    text = out.read_text()
    for heading in ("1. HITL cycle", "2. Breakpoint stepping", "3. Streaming", "threads parked", "5. Double-text"):
        assert heading in text
    assert "| waypoint-sqlite |" in text and "| inprocess |" in text and "| inprocess-postgres |" in text
    assert (tmp_path / "latency.png").stat().st_size > 0
    raw = json.loads((tmp_path / "results.json").read_text())
    assert set(raw) == {"inprocess", "inprocess-postgres", "waypoint-sqlite"}
    assert raw["waypoint-sqlite"]["hitl"]["1"]["cycles_per_s"] > 0
    # The floor on PostgreSQL runs its three scenarios and counts PostgreSQL's transactions.
    assert set(raw["inprocess-postgres"]) == {"hitl", "breakpoints", "streaming"}
    assert raw["inprocess-postgres"]["hitl"]["1"]["pg_xacts_per_cycle"] > 0
