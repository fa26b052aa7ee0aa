"""Schema-driven fuzzing (issue 9, "Done when"): schemathesis generates requests from
Waypoint's own `/openapi.json` (valid and invalid ones) against a real server; no answer
may be a 5xx, and every error answer must be JSON with a `detail` (`fuzz_checks.py`).

The suite runs a small bounded smoke per backend. `make fuzz` runs the same harness with a
larger budget (`WAYPOINT_FUZZ_EXAMPLES` per operation, `WAYPOINT_FUZZ_SECONDS` in all,
`WAYPOINT_FUZZ_SEED`);
each run's report is written to `test-output/fuzz-<backend>.txt` (see docs/fuzz.md).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx

EXAMPLES = int(os.environ.get("WAYPOINT_FUZZ_EXAMPLES", "3"))
SECONDS = int(os.environ.get("WAYPOINT_FUZZ_SECONDS", "40"))
#: A fixed seed keeps the suite's smoke repeatable; `make fuzz` explores (`random`).
SEED = os.environ.get("WAYPOINT_FUZZ_SEED", "20261123")
CLI = Path(sys.executable).with_name("schemathesis")


def test_fuzz_openapi_finds_no_server_error(server, backend, output_dir):
    command = [
        str(CLI), "run", f"{server.url}/openapi.json",
        "--checks", "not_a_server_error,json_error_bodies",
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", str(EXAMPLES), "--max-time", str(SECONDS),
        "--workers", "1", "--request-timeout", "20", "--generation-database", "none",
        "--no-color", "--suppress-health-check", "all", "--warnings", "off",
        *(["--seed", SEED] if SEED != "random" else []),
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "fuzz_checks",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=SECONDS + 300,
                          cwd=output_dir)
    _delete_crons(server.url)  # generated crons would keep firing runs on the shared server
    report = f"$ {' '.join(command[1:])}\n\n{done.stdout}\n{done.stderr}"
    (output_dir / f"fuzz-{backend}.txt").write_text(report)
    summary = re.search(r"(\d+) generated", done.stdout)
    assert summary and int(summary.group(1)) > 0, report[-3000:]
    assert done.returncode == 0, report[-6000:]


def _delete_crons(url: str) -> None:
    with httpx.Client(base_url=url, timeout=30) as http:
        while crons := http.post("/runs/crons/search", json={"limit": 1000}).json():
            for cron in crons:
                http.delete(f"/runs/crons/{cron['cron_id']}")
