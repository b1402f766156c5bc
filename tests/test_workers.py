"""`barrage serve --workers N` (server/workers.py), as real processes."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.test_cli import run_cli


async def test_several_workers_refuse_the_memory_bus_naming_bus_url(tmp_path: Path) -> None:
    proc = await run_cli("serve", "--workers", "2", cwd=tmp_path)
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert b"config error: bus.url:" in err and b"memory://" in err


async def test_a_worker_count_that_is_no_positive_number_is_refused(tmp_path: Path) -> None:
    for bad in ("0", "-1", "two", "65"):
        proc = await run_cli("serve", "--workers", bad, cwd=tmp_path)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 2 and b"--workers" in err, (bad, err)
