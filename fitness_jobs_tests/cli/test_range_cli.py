"""``fitness-jobs nightly --from D1 --to D2`` and ``fitness-jobs weekly --week W1 --to W2``:
one Dagster run over the range, exit codes as for one partition, usage errors (exit 2,
one line, no run)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from fitness_jobs import cli
from fitness_jobs.db import reads
from fitness_jobs_tests.cli.conftest import url_of
from fitness_jobs_tests.factories import user, workout, write

NOW = "2026-12-01T04:00:00+00:00"  # nightly: the last complete day is 2026-11-30
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def _runs() -> list[dg.DagsterRun]:
    with dg.DagsterInstance.get() as instance:
        return list(instance.get_runs())


@pytest.fixture
def sqlite_cli(
    sqlite_engine: sa.Engine, dagster_home: Path, monkeypatch: pytest.MonkeyPatch
) -> sa.Engine:
    monkeypatch.setenv("FITNESS_DATABASE_URL", url_of(sqlite_engine))
    return sqlite_engine


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["nightly", "--from", "2026-11-20"], "--from needs --to"),
        (["nightly", "--to", "2026-11-20"], "--to needs --from"),
        (
            ["nightly", "--partition", "2026-11-20", "--from", "2026-11-20", "--to", "2026-11-21"],
            "either --partition (one day) or --from/--to (a range), not both",
        ),
        (
            ["nightly", "--from", "2026-11-21", "--to", "2026-11-20"],
            "--to 2026-11-20 is before --from 2026-11-21",
        ),
        (
            ["nightly", "--from", "2024-12-30", "--to", "2025-01-02"],
            "--from 2024-12-30 is before the first partition (2025-01-01)",
        ),
        (
            ["nightly", "--from", "2026-11-28", "--to", "2026-12-01"],
            "--to 2026-12-01 is not a complete UTC day yet",
        ),
        (["nightly", "--from", "2026-11-28", "--to", "2026-11-30", "--limit", "-1"], "≥ 0"),
        (["nightly", "--from", "28/11/2026", "--to", "2026-11-30"], "not a date"),
        (["weekly", "--to", "2026-11-23"], "--to needs --week"),
        (["weekly", "--at", NOW, "--to", "2026-11-23"], "--to needs --week"),
        (
            ["weekly", "--week", "2026-11-16", "--to", "2026-11-09"],
            "--to 2026-11-09 is before --week 2026-11-16",
        ),
        (
            ["weekly", "--week", "2026-11-09", "--to", "2026-11-17"],
            "--to 2026-11-17 is not a Monday",
        ),
        (
            ["weekly", "--week", "2026-11-09", "--to", "2026-12-07"],
            "--to 2026-12-07 has not started yet",
        ),
        (
            ["weekly", "--week", "2024-12-30", "--to", "2025-01-13"],
            "--week 2024-12-30 is before the first week",
        ),
    ],
)
def test_range_usage_errors(
    argv: list[str],
    expected: str,
    sqlite_cli: sa.Engine,
    set_now: Callable[[str], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    set_now(NOW)
    code = cli.main(argv)
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert code == 2, (argv, captured.out, captured.err)
    assert len(lines) == 1 and lines[0].startswith("fitness-jobs: error: "), lines
    assert expected in lines[0]
    assert "Traceback" not in captured.err + captured.out
    assert _runs() == []


def _population(engine: sa.Engine) -> None:
    write(
        engine,
        users=[user(1, timezone="Europe/Berlin"), user(2, timezone="America/New_York")],
        workouts=[workout(uid, f"2026-11-{d:02d} 10:00") for uid in (1, 2) for d in (3, 12, 26)],
    )


def _rows_by_day(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        frame = reads.metrics_rows(conn)
    days = frame["snapshot_at"].map(lambda t: str((t - dt.timedelta(days=1)).date()))
    return days.value_counts().sort_index().to_dict()


def test_nightly_range_runs_once_and_fails_with_a_failed_user(
    cli_env: sa.Engine, set_now: Callable[[str], None], capsys: pytest.CaptureFixture[str]
) -> None:
    _population(cli_env)
    write(cli_env, users=[user(3, timezone="Mars/Base")], workouts=[workout(3, "2026-11-26 10:00")])
    set_now(NOW)
    argv = ["nightly", "--from", "2026-11-26", "--to", "2026-11-28", "--quiet"]
    assert cli.main(argv) == 1
    out = capsys.readouterr().out
    assert "partitions 2026-11-26 … 2026-11-28 (3 days, one run)" in out
    assert "failed users 1" in out and "3 (invalid_timezone)" in out
    for day in ("2026-11-26", "2026-11-27", "2026-11-28"):
        assert any(line.split()[:3] == [day, "3", "2"] for line in out.splitlines()), out
    assert _rows_by_day(cli_env) == {"2026-11-26": 2, "2026-11-27": 2, "2026-11-28": 2}
    (run,) = _runs()
    assert run.job_name == "nightly_metrics_job"
    assert (run.tags[RANGE_START], run.tags[RANGE_END]) == ("2026-11-26", "2026-11-28")


def test_nightly_range_exit_0_and_limit(
    cli_env: sa.Engine, set_now: Callable[[str], None], capsys: pytest.CaptureFixture[str]
) -> None:
    _population(cli_env)
    set_now(NOW)
    argv = ["nightly", "--from", "2026-11-26", "--to", "2026-11-28", "--limit", "1", "--quiet"]
    assert cli.main(argv) == 0
    assert _rows_by_day(cli_env) == {"2026-11-26": 1, "2026-11-27": 1, "2026-11-28": 1}
    assert cli.main(["nightly", "--from", "2026-11-26", "--to", "2026-11-28", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "active user-days 6 · written 6 · changed 3 · failed users 0" in out
    assert _rows_by_day(cli_env) == {"2026-11-26": 2, "2026-11-27": 2, "2026-11-28": 2}


def test_weekly_range(
    cli_env: sa.Engine, set_now: Callable[[str], None], capsys: pytest.CaptureFixture[str]
) -> None:
    _population(cli_env)
    set_now(NOW)
    assert cli.main(["weekly", "--week", "2026-11-02", "--to", "2026-11-16", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "weeks 2026-11-02 … 2026-11-16 (catch_up, one run) · due 6 · written 6" in out
    for week in ("2026-11-02", "2026-11-09", "2026-11-16"):
        assert any(line.split()[:3] == [week, "2", "2"] for line in out.splitlines()), out
    with cli_env.connect() as conn:
        count = conn.execute(sa.text("SELECT COUNT(*) FROM weekly_reports")).scalar_one()
    assert count == 6
    (run,) = _runs()
    assert (run.tags[RANGE_START], run.tags[RANGE_END]) == ("2026-11-02", "2026-11-16")

    # Again: everything already reported; then a user with an invalid zone fails the run.
    assert cli.main(["weekly", "--week", "2026-11-02", "--to", "2026-11-16", "--quiet"]) == 0
    assert "already had one 6" in capsys.readouterr().out
    write(cli_env, users=[user(3, timezone="UTC+3")])
    assert cli.main(["weekly", "--week", "2026-11-09", "--to", "2026-11-16", "--quiet"]) == 1
    assert "3 (invalid_timezone)" in capsys.readouterr().out
