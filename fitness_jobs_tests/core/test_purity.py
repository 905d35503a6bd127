"""fitness_jobs/core stays free of Dagster and the database: ruff's banned-API rule
(flake8-tidy-imports, configured in fitness_jobs/core/ruff.toml) enforces it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUFF = shutil.which("ruff")


def _ruff_on(source: str, path: str) -> subprocess.CompletedProcess[str]:
    assert RUFF is not None
    return subprocess.run(
        [RUFF, "check", "--no-cache", "--select", "TID251", "--stdin-filename", path, "-"],
        input=source,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )


@pytest.mark.skipif(RUFF is None, reason="ruff is installed with the dev extras")
@pytest.mark.parametrize(
    "line",
    [
        "import dagster as dg",
        "from dagster._core.definitions import AssetKey",
        "import sqlalchemy as sa",
        "from sqlalchemy.orm import Session",
        "import psycopg",
    ],
)
def test_core_cannot_import_dagster_or_the_database(line: str) -> None:
    banned = _ruff_on(line + "\n", "fitness_jobs/core/probe.py")
    assert banned.returncode == 1 and "TID251" in banned.stdout
    # The same line is fine outside core (the rule is scoped to the package's pure part).
    allowed = _ruff_on(line + "\n", "fitness_jobs/db/probe.py")
    assert allowed.returncode == 0, allowed.stdout


@pytest.mark.skipif(RUFF is None, reason="ruff is installed with the dev extras")
def test_core_as_it_is_passes_the_rule() -> None:
    done = subprocess.run(
        [RUFF, "check", "--no-cache", "--select", "TID251", "fitness_jobs/core"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout
