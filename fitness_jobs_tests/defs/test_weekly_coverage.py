"""Weekly coverage: judged by its own run after the week's last window has closed."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest
import sqlalchemy as sa

from fitness_jobs.definitions import build_definitions
from fitness_jobs.pipelines.weekly import run_weekly
from fitness_jobs_tests.factories import ts, user, workout, write

W = "2026-11-16"


def _run_check(
    monkeypatch: pytest.MonkeyPatch, engine: sa.Engine, week: str
) -> dg.ExecuteInProcessResult:
    monkeypatch.setenv("FITNESS_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    job = build_definitions().resolve_job_def("weekly_report_coverage_job")
    return job.execute_in_process(
        partition_key=week, instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
    )


def test_coverage_names_the_users_without_a_report(
    db_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(
        db_engine,
        users=[user(1), user(2, timezone="Pacific/Pago_Pago"), user(3, plan="free"), user(4)],
        workouts=[workout(1, "2026-11-18 10:00")],
    )
    # Only user 1 got a report (say the daemon was down for user 2's and 4's windows).
    run_weekly(db_engine, mode="catch_up", week=dt.date.fromisoformat(W), user_ids=[1])
    result = _run_check(monkeypatch, db_engine, W)
    assert result.success  # a WARN check does not fail the run
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.check_name == "all_eligible_reported" and evaluation.passed is False
    (mat,) = result.get_asset_materialization_events()
    md = {k: v.value for k, v in mat.materialization.metadata.items()}
    assert md["eligible_users"] == 3 and md["with_report"] == 1 and md["missing_users"] == 2
    assert md["missing_user_ids"] == [2, 4]
    assert md["coverage_pct"] == 33.33

    run_weekly(db_engine, mode="catch_up", week=dt.date.fromisoformat(W))  # catch-up fills it
    (evaluation,) = _run_check(monkeypatch, db_engine, W).get_asset_check_evaluations()
    assert evaluation.passed is True
    assert {k: v.value for k, v in evaluation.metadata.items()}["missing_user_ids"] == []


def test_coverage_is_not_judged_while_windows_are_open(
    db_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The week in progress cannot be judged: the check says when it can, instead of
    passing on nothing."""
    current = dt.date.today() - dt.timedelta(days=dt.date.today().weekday())
    result = _run_check(monkeypatch, db_engine, current.isoformat())
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    data = failure.step_failure_data
    assert data is not None and data.user_failure_data is not None
    deadline = dt.datetime.combine(current + dt.timedelta(days=7), dt.time(17), dt.UTC)
    assert data.user_failure_data.description == (
        f"configuration error: week {current} cannot be judged before its last report window "
        f"closes ({deadline.isoformat()})"
    )


def test_weekly_report_runs_do_not_evaluate_coverage() -> None:
    job = build_definitions().resolve_job_def("weekly_reports_job")
    assert set(job.graph.node_dict) == {"weekly_reports"}  # no coverage step in report runs
    coverage = build_definitions().resolve_job_def("weekly_report_coverage_job")
    assert set(coverage.graph.node_dict) == {"weekly_report_coverage"}


def test_schedule_judges_last_week_after_the_westernmost_window() -> None:
    repo = build_definitions().get_repository_def()
    schedule = repo.get_schedule_def("weekly_report_coverage_schedule")
    assert schedule.cron_schedule == "15 17 * * 1" and schedule.execution_timezone == "UTC"
    with dg.build_schedule_context(
        scheduled_execution_time=ts("2026-11-30 17:15"), repository_def=repo
    ) as context:
        data = schedule.evaluate_tick(context)
    assert [(r.partition_key, r.run_key) for r in data.run_requests or []] == [
        ("2026-11-23", "coverage:2026-11-23")
    ]
