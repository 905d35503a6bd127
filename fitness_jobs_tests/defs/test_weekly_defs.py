"""The weekly Dagster definitions: partitions, materialisation, checks, sensor, CLI."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from fitness_jobs import cli
from fitness_jobs.defs import weekly as weekly_defs
from fitness_jobs.defs.partitions import weekly_partitions
from fitness_jobs.defs.resources import AppDatabase
from fitness_jobs.defs.weekly import weekly_report_sensor, weekly_reports
from fitness_jobs_tests.factories import ts, user, workout, write

UTC = dt.UTC


def _url(engine: sa.Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def test_week_partition_exists_from_sunday_1300_utc() -> None:
    keys = weekly_partitions.get_partition_keys(
        current_time=dt.datetime(2026, 11, 29, 13, 0, tzinfo=UTC)
    )
    assert keys[-1] == "2026-11-23"  # the week in progress (end_offset=1)
    assert all(dt.date.fromisoformat(k).weekday() == 0 for k in keys)
    window = weekly_partitions.time_window_for_partition_key("2026-11-23")
    assert window.start.isoformat().startswith("2026-11-23T00:00")
    assert window.end.isoformat().startswith("2026-11-30T00:00")


def _materialize(engine: sa.Engine, week: str, **config: object) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [weekly_reports],
        partition_key=week,
        resources={"app_db": AppDatabase(url=_url(engine))},
        run_config={"ops": {"weekly_reports": {"config": config}}} if config else None,
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def test_catch_up_materialisation_metadata_and_checks(db_engine: sa.Engine) -> None:
    write(
        db_engine,
        users=[user(1, timezone="Asia/Kathmandu"), user(2, plan="free"), user(3, plan="trial")],
        workouts=[workout(1, "2026-11-04 10:00"), workout(3, "2026-11-05 10:00")],
    )
    result = _materialize(db_engine, "2026-11-02")
    assert result.success
    mats = {m.asset_key.to_user_string(): m for m in result.get_asset_materialization_events()}
    assert set(mats) == {"weekly_training_reports", "transformation_predictions"}
    md = {k: v.value for k, v in mats["weekly_training_reports"].materialization.metadata.items()}
    assert md["written_reports"] == 2 and md["failed_users"] == 0 and md["mode"] == "catch_up"
    assert "Weekly report" in md["preview"]
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["no_failed_users"].passed and checks["coverage"].passed
    coverage_md = {k: v.value for k, v in checks["coverage"].metadata.items()}
    assert coverage_md["windows_closed"] is True and coverage_md["eligible_users"] == 2

    again = _materialize(db_engine, "2026-11-02")  # nothing is duplicated
    md2 = {
        k: v.value
        for k, v in next(
            m
            for m in again.get_asset_materialization_events()
            if m.asset_key.path == ["weekly_training_reports"]
        ).materialization.metadata.items()
    }
    assert md2["written_reports"] == 0 and md2["already_reported"] == 2


def test_failed_user_fails_the_weekly_run(db_engine: sa.Engine) -> None:
    write(db_engine, users=[user(1), user(2, timezone="Mars/Base")])
    result = _materialize(db_engine, "2026-11-02")
    assert not result.success
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["no_failed_users"].passed is False
    with db_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT user_id FROM weekly_reports")).scalars().all() == [1]


def test_bad_config_fails_without_retry(db_engine: sa.Engine) -> None:
    result = _materialize(db_engine, "2026-11-02", mode="window", at="2026-11-09 04:00")
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "offset" in (failure.step_failure_data.user_failure_data.description or "")  # type: ignore[union-attr]


def test_sensor_definition_with_a_fixed_clock(
    db_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(db_engine, users=[user(1, timezone="Europe/Berlin")])
    resources = {"app_db": AppDatabase(url=_url(db_engine))}

    monkeypatch.setattr(weekly_defs, "utc_now", lambda: ts("2026-11-30 03:10"))  # 04:10 in Berlin
    with dg.build_sensor_context(resources=resources) as context:
        result = weekly_report_sensor(context)
    assert isinstance(result, dg.SensorResult)
    assert [(r.partition_key, r.run_key) for r in result.run_requests or []] == [
        ("2026-11-23", "weekly:2026-11-23:2026-11-30T03")
    ]
    assert result.run_requests[0].run_config["ops"]["weekly_reports"]["config"]["mode"] == "window"  # type: ignore[index]

    monkeypatch.setattr(weekly_defs, "utc_now", lambda: ts("2026-11-26 09:00"))  # a Thursday
    with dg.build_sensor_context(resources=resources, cursor=result.cursor) as context:
        quiet = weekly_report_sensor(context)
    assert not quiet.run_requests
    assert weekly_report_sensor.minimum_interval_seconds == 300


@pytest.fixture
def cli_env(db_engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> sa.Engine:
    monkeypatch.setenv("FITNESS_DATABASE_URL", _url(db_engine))
    (tmp_path / "dh").mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dh"))
    return db_engine


def test_weekly_cli(cli_env: sa.Engine, capsys: pytest.CaptureFixture[str]) -> None:
    write(cli_env, users=[user(1, timezone="Europe/Berlin"), user(2, timezone="America/New_York")])
    assert cli.main(["weekly", "--week", "2026-11-03"]) == 2  # a Tuesday
    assert cli.main(["weekly", "--at", "2026-11-30T03:30"]) == 2  # no offset
    assert cli.main(["weekly", "--at", "2026-11-26T09:00:00Z"]) == 0  # nobody's window
    assert "nothing to do" in capsys.readouterr().out

    assert cli.main(["weekly", "--at", "2026-11-30T03:30:00+00:00", "--quiet"]) == 0  # Berlin 04:30
    out = capsys.readouterr().out
    assert "written 1" in out
    with cli_env.connect() as conn:
        assert conn.execute(sa.text("SELECT user_id FROM weekly_reports")).scalars().all() == [1]

    # Catch-up and regeneration of a week that is over everywhere, whatever today is.
    assert cli.main(["weekly", "--week", "2026-11-09", "--quiet"]) == 0
    assert (
        cli.main(["weekly", "--week", "2026-11-09", "--regenerate", "--user-id", "2", "--quiet"])
        == 0
    )
    summaries = [
        line for line in capsys.readouterr().out.splitlines() if line.startswith("weekly reports")
    ]
    assert "written 2 " in summaries[-2]
    assert "written 1 " in summaries[-1]  # only the requested user was rewritten

    write(cli_env, users=[user(3, timezone="UTC+3")])
    from fitness_jobs.jobs import weekly_job

    assert weekly_job.main(["--week", "2026-11-09", "--quiet"]) == 1
    assert "3 (invalid_timezone)" in capsys.readouterr().out
