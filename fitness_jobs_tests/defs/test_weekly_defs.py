"""The weekly Dagster definitions: partitions, materialisation, checks, sensor, CLI."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest
import sqlalchemy as sa

from fitness_jobs.defs.resources import AppDatabase
from fitness_jobs.defs.weekly import sensors as weekly_defs
from fitness_jobs.defs.weekly.assets import weekly_reports
from fitness_jobs.defs.weekly.partitions import weekly_partitions
from fitness_jobs.defs.weekly.sensors import weekly_report_sensor
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
    assert set(mats) == {"weekly_reports", "transformation_predictions"}
    md = {k: v.value for k, v in mats["weekly_reports"].materialization.metadata.items()}
    assert md["written_reports"] == 2 and md["failed_users"] == 0 and md["mode"] == "catch_up"
    assert "Prediction status | users" in md["preview"] and "insufficient_data | 2" in md["preview"]
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    # Coverage is judged by its own check after the windows close, not inside report runs.
    assert set(checks) == {"no_failed_users"} and checks["no_failed_users"].passed

    again = _materialize(db_engine, "2026-11-02")  # nothing is duplicated
    md2 = {
        k: v.value
        for k, v in next(
            m
            for m in again.get_asset_materialization_events()
            if m.asset_key.path == ["weekly_reports"]
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
    types = [e.event_type_value for e in result.all_events if e.step_key == "weekly_reports"]
    assert types.count("STEP_START") == 1  # one attempt: a configuration error is not retried
    assert "STEP_UP_FOR_RETRY" not in types and types.count("STEP_FAILURE") == 1
    failure = next(e for e in result.all_events if e.is_step_failure)
    data = failure.step_failure_data
    assert data is not None and data.error is not None
    # Recognisable by type (the CLI maps it to exit code 2): the step's error is a
    # dg.Failure raised from a ConfigurationError.
    assert data.error.cause is not None and data.error.cause.cls_name == "ConfigurationError"
    assert data.user_failure_data is not None
    assert data.user_failure_data.description == (
        "configuration error: `at` needs its UTC offset, e.g. 2026-11-30T03:30:00+00:00 "
        "(got '2026-11-09 04:00')"
    )


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


def test_backfills_run_as_ranges_of_up_to_8_weeks() -> None:
    assert weekly_reports.backfill_policy == dg.BackfillPolicy.multi_run(max_partitions_per_run=8)
