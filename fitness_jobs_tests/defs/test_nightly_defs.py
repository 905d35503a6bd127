"""The nightly Dagster definitions: loading, schedule, blocking check, CLI exit codes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from fitness_jobs import cli
from fitness_jobs.defs.nightly import coach_usage_daily, user_behavior_metrics
from fitness_jobs.defs.resources import AppDatabase
from fitness_jobs_tests.factories import user, workout, write

UTC = dt.UTC


def _url(engine: sa.Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def test_definitions_load_with_the_documented_names() -> None:
    from fitness_jobs.definitions import defs

    dg.Definitions.validate_loadable(defs)
    repo = defs.get_repository_def()
    assert {j.name for j in repo.get_all_jobs()} >= {"nightly_metrics_job", "weekly_reports_job"}
    assert {s.name for s in repo.schedule_defs} == {"nightly_metrics_schedule"}
    assert {s.name for s in repo.sensor_defs} == {"weekly_report_sensor"}
    keys = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    assert {
        "user_behavior_metrics",
        "coach_usage_daily",
        "weekly_training_reports",
        "transformation_predictions",
        "app/users",
        "app/workouts",
    } <= keys
    # Lineage starts at the app tables.
    node = repo.asset_graph.get(dg.AssetKey("user_behavior_metrics"))
    assert dg.AssetKey(["app", "workouts"]) in node.parent_keys


def test_schedule_tick_at_0200_requests_yesterday() -> None:
    from fitness_jobs.definitions import defs

    schedule = defs.get_repository_def().get_schedule_def("nightly_metrics_schedule")
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.execution_timezone in (None, "UTC")
    with dg.build_schedule_context(
        scheduled_execution_time=dt.datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
    ) as context:
        data = schedule.evaluate_tick(context)
    requests = data.run_requests or []
    assert [r.partition_key for r in requests] == ["2026-11-28"]


def _materialize(engine: sa.Engine, partition: str, **config: object) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [user_behavior_metrics, coach_usage_daily],
        partition_key=partition,
        resources={"app_db": AppDatabase(url=_url(engine))},
        run_config={"ops": {"user_behavior_metrics": {"config": config}}} if config else None,
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def test_materialization_metadata_and_passing_checks(db_engine: sa.Engine) -> None:
    write(
        db_engine,
        users=[user(1), user(2, timezone=None)],
        workouts=[workout(1, "2026-11-27 10:00"), workout(2, "2026-11-28 23:00")],
    )
    result = _materialize(db_engine, "2026-11-28")
    assert result.success
    mats = result.asset_materializations_for_node("user_behavior_metrics")
    md = {k: v.value for k, v in mats[0].metadata.items()}
    assert md["active_users"] == 2 and md["written_users"] == 2 and md["failed_users"] == 0
    assert md["timezone_null_fallback"] == 1
    assert "on_track" in md["preview"] and "user_id" in md["preview"]
    assert "example.com" not in str(md)
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {"no_failed_users": True, "coverage": True, "value_ranges": True}


def test_a_failed_user_fails_the_blocking_check_and_the_run(db_engine: sa.Engine) -> None:
    write(
        db_engine,
        users=[user(1), user(2, timezone="UTC+3")],
        workouts=[workout(1, "2026-11-27 10:00"), workout(2, "2026-11-27 10:00")],
    )
    result = _materialize(db_engine, "2026-11-28")
    assert not result.success
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert evaluations["no_failed_users"].passed is False
    md = {k: v.value for k, v in evaluations["no_failed_users"].metadata.items()}
    assert md["failed_user_ids"] == [{"user_id": 2, "error": "invalid_timezone"}]
    # The good user's row is committed all the same.
    with db_engine.connect() as conn:
        assert conn.execute(
            sa.text("SELECT user_id FROM user_behavior_metrics")
        ).scalars().all() == [1]


def test_negative_limit_is_a_configuration_failure(db_engine: sa.Engine) -> None:
    result = _materialize(db_engine, "2026-11-28", limit=-3)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    data = failure.step_failure_data
    assert data is not None and data.user_failure_data is not None
    assert "limit" in (data.user_failure_data.description or "")


@pytest.fixture
def cli_env(
    db_engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[sa.Engine]:
    monkeypatch.setenv("FITNESS_DATABASE_URL", _url(db_engine))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    (tmp_path / "dagster_home").mkdir()
    yield db_engine


def test_cli_exit_codes_and_run_history(
    cli_env: sa.Engine,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    write(
        cli_env,
        users=[user(1), user(2)],
        workouts=[workout(1, "2026-11-27 10:00"), workout(2, "2026-11-27 11:00")],
    )
    assert cli.main(["nightly", "--partition", "2026-11-28", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "active users 2" in out and "failed 0" in out

    assert cli.main(["nightly", "--partition", "2026-11-28", "--limit", "-1"]) == 2
    assert cli.main(["nightly", "--partition", "28/11/2026"]) == 2
    assert cli.main(["nightly", "--partition", "2999-01-01"]) == 2
    assert cli.main(["nightly", "--partition", "2020-01-01"]) == 2
    assert cli.main(["nightly", "--limit", "x"]) == 2
    assert cli.main(["frobnicate"]) == 2
    monkeypatch.setenv("FITNESS_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert cli.main(["nightly", "--partition", "2026-11-28"]) == 2
    assert "cannot connect to the app database" in capsys.readouterr().err
    monkeypatch.setenv("FITNESS_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.sqlite'}")
    assert cli.main(["nightly", "--partition", "2026-11-28"]) == 2
    assert "fitness-jobs db init" in capsys.readouterr().err
    monkeypatch.setenv("FITNESS_DATABASE_URL", _url(cli_env))

    write(cli_env, users=[user(3, timezone="Mars/Base")], workouts=[workout(3, "2026-11-27 10:00")])
    from fitness_jobs.jobs import nightly_job

    code = nightly_job.main(["--limit", "5", "--quiet"])
    assert code in (
        0,
        1,
    )  # default partition depends on today's date; the explicit run below does not
    assert cli.main(["nightly", "--partition", "2026-11-28", "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "3 (invalid_timezone)" in out
    assert "@example.com" not in out

    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs()
    assert len(runs) >= 3
    assert all(r.job_name == "nightly_metrics_job" for r in runs)


HOLDER = """
import os, socket, sys, time
import dagster as dg

@dg.asset(pool="app_database")
def slot_holder():
    print("holding", flush=True)
    time.sleep(120)

job = dg.define_asset_job("slot_holder_job", selection=[slot_holder])
defs = dg.Definitions(assets=[slot_holder], jobs=[job])
with dg.DagsterInstance.get() as instance:
    defs.resolve_job_def("slot_holder_job").execute_in_process(
        instance=instance,
        tags={"fitness_jobs/trigger": "cli", "fitness_jobs/host": socket.gethostname(),
              "fitness_jobs/pid": str(os.getpid())},
    )
"""


def test_a_killed_cli_run_does_not_block_the_next_one(
    sqlite_engine: sa.Engine, tmp_path: Path
) -> None:
    """A cron run killed mid-run keeps its pool slot claimed; the next run frees it."""
    import os
    import shutil
    import signal
    import subprocess
    import sys

    from fitness_jobs.settings import PROJECT_ROOT

    home = tmp_path / "dagster_home"
    home.mkdir()
    config = (PROJECT_ROOT / "dagster.yaml").read_text().replace(".dagster_home", str(home))
    (home / "dagster.yaml").write_text(config)  # pools default_limit 1, as shipped
    env = {**os.environ, "DAGSTER_HOME": str(home), "FITNESS_DATABASE_URL": _url(sqlite_engine)}
    write(sqlite_engine, users=[user(1)], workouts=[workout(1, "2026-11-27 10:00")])

    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER], env=env, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and "holding" in holder.stdout.readline()
    holder.send_signal(signal.SIGKILL)
    holder.wait()

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "fitness_jobs.cli",
            "nightly",
            "--partition",
            "2026-11-28",
            "--quiet",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "died mid-run" in done.stderr
    with dg.DagsterInstance.from_config(str(home)) as instance:
        statuses = sorted(r.status.value for r in instance.get_runs())
        assert statuses == ["FAILURE", "SUCCESS"]
        assert instance.event_log_storage.get_concurrency_info("app_database").claimed_slots == []
    shutil.rmtree(home, ignore_errors=True)
