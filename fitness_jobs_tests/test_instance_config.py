"""The shipped instance configurations: the embedded default and production on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import shutil
import uuid
from pathlib import Path

import dagster as dg
import psycopg
import pytest
import sqlalchemy as sa
import yaml

from fitness_jobs.definitions import build_definitions
from fitness_jobs.settings import PROJECT_ROOT
from fitness_jobs_tests.factories import user, workout, write

DEPLOY = PROJECT_ROOT / "deploy"


def test_embedded_default_keeps_history_in_a_git_ignored_folder() -> None:
    config = yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text())
    assert config["storage"]["sqlite"]["base_dir"].startswith(".dagster_home")
    assert config["telemetry"]["enabled"] is False
    assert ".dagster_home/" in (PROJECT_ROOT / ".gitignore").read_text()
    assert config["concurrency"]["runs"]["tag_concurrency_limits"][0]["key"] == "dagster/partition"


def test_production_config_takes_every_secret_from_the_environment() -> None:
    text = (DEPLOY / "dagster.yaml").read_text()
    config = yaml.safe_load(text)
    pg = config["storage"]["postgres"]["postgres_db"]
    assert pg["scheme"] == "postgresql+psycopg2"
    for key in ("hostname", "port", "username", "password", "db_name"):
        assert set(pg[key]) == {"env"}, key
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert config["run_monitoring"]["enabled"] is True
    assert config["run_retries"]["enabled"] is True
    assert "pools" in config["concurrency"]


@pytest.fixture
def production_env(
    postgres_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> sa.Engine:
    """The DAGSTER_PG_* variables of deploy/dagster.yaml, pointing at a fresh database."""
    url = postgres_engine.url
    name = f"dagster_{uuid.uuid4().hex[:10]}"
    dsn = f"host={url.host} port={url.port or 5432} user={url.username} dbname={url.database}"
    if url.password:
        dsn += f" password={url.password}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    monkeypatch.setenv("DAGSTER_PG_HOST", url.host or "127.0.0.1")
    monkeypatch.setenv("DAGSTER_PG_PORT", str(url.port or 5432))
    monkeypatch.setenv("DAGSTER_PG_USER", url.username or "postgres")
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", url.password or "")
    monkeypatch.setenv("DAGSTER_PG_DB", name)
    monkeypatch.setenv("FITNESS_DATABASE_URL", url.render_as_string(hide_password=False))
    return postgres_engine


def test_production_instance_runs_a_job_on_postgres(
    production_env: sa.Engine, tmp_path: Path
) -> None:
    write(production_env, users=[user(1)], workouts=[workout(1, "2026-11-27 10:00")])
    home = tmp_path / "dagster_home"  # DAGSTER_HOME holds a copy of deploy/dagster.yaml
    home.mkdir()
    shutil.copy(DEPLOY / "dagster.yaml", home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert instance.run_monitoring_enabled
        assert instance.run_retries_enabled
        job = build_definitions().resolve_job_def("nightly_metrics_job")
        result = job.execute_in_process(instance=instance, partition_key="2026-11-28")
        assert result.success
        runs = instance.get_runs()
        assert [r.run_id for r in runs] == [result.run_id]
        record = instance.get_latest_materialization_event(dg.AssetKey("user_behavior_metrics"))
        assert record is not None and record.dagster_event is not None
        assert record.dagster_event.partition == "2026-11-28"
    with production_env.connect() as conn:
        assert conn.execute(
            sa.text("SELECT metrics_date FROM user_behavior_metrics")
        ).scalar_one() == dt.date(2026, 11, 29)
