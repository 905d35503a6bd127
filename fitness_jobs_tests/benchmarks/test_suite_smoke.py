"""A small run of the benchmark suite: it runs end to end and its results are well formed.
(Speed is read off the results by people, never asserted here.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from benchmarks.suite import check_well_formed

ROOT = Path(__file__).resolve().parents[2]


def test_smoke_run_writes_well_formed_results(postgres_engine: sa.Engine, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "FITNESS_TEST_POSTGRES_URL": postgres_engine.url.render_as_string(hide_password=False),
    }
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.suite", "--smoke", "--out", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "latest.json").read_text())
    check_well_formed(results)
    assert {(r["job"], r["users"]) for r in results["records"]} == {
        ("nightly", 2000),
        ("weekly", 2000),
        ("seed", 2000),
        ("nightly_backfill_3d", 2000),
        ("nightly_fanout_2w", 2000),
    }
    details = results["details"]["2000"]
    nightly = details["nightly"]
    assert nightly["success"] is True and nightly["failed_users"] == 0
    assert details["baseline"]["processed_users"] == 200
    # The range run writes exactly the rows of one run per partition.
    # The weekly floor replays the measured run's own reads and copies what it wrote.
    weekly = details["weekly"]
    floor = weekly["floor"]
    assert weekly["success"] is True and weekly["written_reports"] > 0
    assert floor["written_rows"] == {
        "weekly_reports": weekly["written_reports"],
        "transformation_predictions": weekly["written_reports"],
    }
    assert floor["read_statements"] >= 6 and floor["read_bytes"] > 0
    backfill = details["backfill"]
    assert backfill["identical_rows"] is True, backfill["range"]["comparison"]
    assert backfill["singles"]["runs"] == 3 and backfill["range"]["partitions"] == 3
    assert backfill["singles"]["success"] and backfill["range"]["success"]
    fanout = details["fanout"]
    assert fanout["1w"]["success"] and fanout["2w"]["success"]
    assert fanout["1w"]["written_users"] == fanout["2w"]["written_users"] > 0
    markdown = (tmp_path / "latest.md").read_text()
    assert "| nightly | 2,000 |" in markdown
    assert "| nightly_backfill_3d | 2,000 |" in markdown and "identical rows: yes" in markdown
    assert "| nightly_fanout_2w | 2,000 |" in markdown
    assert (tmp_path / "seconds_vs_users.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _no_stray_results() -> Iterator[None]:
    """The smoke run writes only to its tmp dir, never over the committed results."""
    committed = ROOT / "benchmarks" / "results" / "latest.json"
    before = committed.read_bytes() if committed.exists() else None
    yield
    assert (committed.read_bytes() if committed.exists() else None) == before
