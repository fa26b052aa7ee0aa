"""Faults: nothing lost, nothing stuck, clear answers (issue 9, section 5).

Each test drives real server processes and, where a dependency fails, real PostgreSQL/Redis
instances of its own (stopped and restarted by the test) so other tests are not disturbed.
"""

from __future__ import annotations

import httpx
from conftest import ServerProcess


def test_second_process_on_one_sqlite_file_refuses_to_start(tmp_path):
    uri = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    first = ServerProcess(tmp_path / "first", database_uri=uri).start()
    try:
        second = ServerProcess(tmp_path / "second", database_uri=uri).launch()
        assert second.proc.wait(30) != 0
        log = second.log()
        assert str(tmp_path / "shared.sqlite") in log
        assert f"process {first.proc.pid}" in log
        assert httpx.get(f"{first.url}/ok").status_code == 200  # the first is untouched
    finally:
        first.kill()  # kill -9: the kernel releases the lock with the process
    third = ServerProcess(tmp_path / "third", database_uri=uri).start()
    try:
        assert httpx.get(f"{third.url}/ok").status_code == 200
        assert (tmp_path / "shared.sqlite.lock").read_text() == str(third.proc.pid)
    finally:
        third.stop()
