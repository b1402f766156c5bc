"""The benchmark smoke as a correctness check: 500 streams, 100 barrages/s for 5 s,
every stream gets every barrage once. No timing is asserted (timing lives in bench/)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


async def test_smoke_has_no_gaps_or_duplicates() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.run", "--smoke", cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    text = out.decode()
    assert proc.returncode == 0, text
    assert "gaps 0, duplicates 0: PASS" in text
