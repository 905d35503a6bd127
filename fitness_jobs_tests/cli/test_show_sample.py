"""``--show-sample``: one report of the run, read from the app database, only on request."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from fitness_jobs import cli
from fitness_jobs_tests.factories import user, weigh_in, workout, write

WEEK = "2026-11-09"


def _data(engine: sa.Engine) -> None:
    start = dt.datetime(2026, 10, 12, 7, 0, tzinfo=dt.UTC)
    write(
        engine,
        users=[user(1, timezone="Europe/Berlin"), user(2, timezone="America/New_York")],
        workouts=[workout(u, "2026-11-10 18:00") for u in (1, 2)],
        weigh_ins=[
            weigh_in(u, start + dt.timedelta(days=d), 91.3 - 0.05 * d + 5 * u)
            for u in (1, 2)
            for d in range(48)
        ],
    )


def test_no_report_content_without_the_flag(
    cli_env: sa.Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    _data(cli_env)
    assert cli.main(["weekly", "--week", WEEK, "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "written 2" in out
    assert "kg" not in out and "Trend weight" not in out and "# Weekly report" not in out


def test_the_sample_is_a_report_this_run_wrote(
    cli_env: sa.Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    _data(cli_env)
    assert cli.main(["weekly", "--week", WEEK, "--quiet", "--show-sample"]) == 0
    out = capsys.readouterr().out
    assert f"# Weekly report, week of {WEEK} (Europe/Berlin)" in out  # user 1: lowest id
    assert "Trend weight" in out and " kg" in out and "Transformation prediction" in out

    # A run that writes nothing has no sample, even though the week has reports.
    assert cli.main(["weekly", "--week", WEEK, "--quiet", "--show-sample"]) == 0
    out = capsys.readouterr().out
    assert "written 0" in out and "wrote no report" in out and "# Weekly report" not in out

    # Regenerating user 2 shows user 2's report, not user 1's older one.
    argv = ["weekly", "--week", WEEK, "--regenerate", "--user-id", "2", "--show-sample"]
    assert cli.main([*argv, "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "sample report · user 2" in out and "(America/New_York)" in out


def test_window_mode_sample(cli_env: sa.Engine, capsys: pytest.CaptureFixture[str]) -> None:
    _data(cli_env)
    # Monday 2026-11-30 04:30 in Berlin: user 1's window for week 2026-11-23.
    argv = ["weekly", "--at", "2026-11-30T03:30:00+00:00", "--quiet", "--show-sample"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "written 1" in out
    assert "# Weekly report, week of 2026-11-23 (Europe/Berlin)" in out


def test_demo_run_shows_a_sample_only_on_request(
    sqlite_engine: sa.Engine,
    dagster_home: object,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("FITNESS_DATABASE_URL", str(sqlite_engine.url))
    assert cli.main(["demo", "run", "--users", "40"]) == 0
    out = capsys.readouterr().out
    assert "nightly metrics" in out and "weekly reports" in out
    assert "# Weekly report" not in out and "kg" not in out

    with sqlite_engine.begin() as conn:  # let the next run write the week's reports again
        conn.execute(sa.text("DELETE FROM weekly_reports"))
        conn.execute(sa.text("DELETE FROM transformation_predictions"))
    assert cli.main(["demo", "run", "--show-sample"]) == 0
    out = capsys.readouterr().out
    assert "demo data already present (40 users)" in out
    assert "# Weekly report, week of" in out and "| Sessions |" in out
