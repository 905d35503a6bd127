"""Fixtures of the command-line tests: an app database in ``FITNESS_DATABASE_URL``, a
throw-away Dagster instance in ``DAGSTER_HOME``, a fixed clock, no connect retries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from fitness_jobs.cli import commands, database


def url_of(engine: sa.Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


@pytest.fixture(autouse=True)
def _no_connect_retry_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(database, "RETRY_DELAY_S", 0.0)


@pytest.fixture
def dagster_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


@pytest.fixture
def cli_env(db_engine: sa.Engine, dagster_home: Path, monkeypatch: pytest.MonkeyPatch) -> sa.Engine:
    """The app database (SQLite and PostgreSQL) as the CLI's ``FITNESS_DATABASE_URL``."""
    monkeypatch.setenv("FITNESS_DATABASE_URL", url_of(db_engine))
    return db_engine


@pytest.fixture
def set_now(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Fix the command line's clock: ``set_now("2026-11-29T03:00:00+00:00")``."""

    def fix(instant: str) -> None:
        now = dt.datetime.fromisoformat(instant).astimezone(dt.UTC)
        monkeypatch.setattr(commands, "utc_now", lambda: now)

    return fix
