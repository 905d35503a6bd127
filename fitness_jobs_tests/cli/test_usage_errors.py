"""Every usage or configuration problem: exit code 2, one line on stderr, no traceback,
and no run started."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from fitness_jobs import cli
from fitness_jobs_tests.cli.conftest import url_of

UNREACHABLE = "postgresql+psycopg://nobody@127.0.0.1:1/none"
NOW = "2026-12-01T04:00:00+00:00"  # a Tuesday: the latest week partition is 2026-11-30


def _usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run the CLI; assert exit 2, exactly one stderr line, no traceback; return the line."""
    code = cli.main(argv)
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert code == 2, (argv, captured.out, captured.err)
    assert len(lines) == 1, lines
    assert "Traceback" not in captured.err + captured.out
    assert lines[0].startswith("fitness-jobs: ")
    return lines[0]


def _no_runs() -> None:
    with dg.DagsterInstance.get() as instance:
        assert instance.get_runs() == []


@pytest.mark.parametrize(
    ("week", "expected"),
    [
        ("2026-12-07", "has not started yet: the latest week is 2026-11-30"),
        ("2027-03-01", "has not started yet"),
        ("2024-12-30", "before the first week (2025-01-06)"),
        ("2026-11-03", "is not a Monday"),
    ],
)
def test_weekly_week_outside_the_partitions(
    week: str,
    expected: str,
    cli_env: sa.Engine,
    set_now: Callable[[str], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    set_now(NOW)
    line = _usage_error(["weekly", "--week", week], capsys)
    assert f"--week {week}" in line and expected in line
    _no_runs()


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["weekly", "--user-id", "3"], "--user-id needs --week"),
        (["weekly", "--regenerate"], "--regenerate needs --week"),
        (
            ["weekly", "--regenerate", "--user-id", "3", "--at", NOW],
            "--regenerate and --user-id need --week",
        ),
        (["weekly", "--week", "2026-11-23", "--at", NOW], "not both"),
        (["weekly", "--at", "2026-11-30T03:30"], "with its offset"),
        (["weekly", "--user-id", "0", "--week", "2026-11-23"], "must be ≥ 1"),
        (["nightly", "--limit", "x"], "not a whole number"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_flags_that_do_not_go_together_or_do_not_parse(
    argv: list[str],
    expected: str,
    cli_env: sa.Engine,
    set_now: Callable[[str], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    set_now(NOW)
    assert expected in _usage_error(argv, capsys)
    _no_runs()


@pytest.mark.parametrize(
    "argv",
    [
        ["weekly"],  # now: a Tuesday, nobody is due
        ["weekly", "--at", "2026-11-26T09:00:00Z"],  # a Thursday, nobody is due
        ["weekly", "--at", "2026-11-30T03:30:00Z"],  # Berlin's window
        ["weekly", "--week", "2026-11-23"],
        ["nightly", "--partition", "2026-11-28"],
    ],
)
@pytest.mark.parametrize("problem", ["unreachable", "uninitialised", "bad scheme"])
def test_a_broken_app_database_is_reported_at_every_hour(
    argv: list[str],
    problem: str,
    dagster_home: Path,
    tmp_path: Path,
    set_now: Callable[[str], None],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, expected = {
        "unreachable": (UNREACHABLE, "cannot connect to the app database"),
        "uninitialised": (f"sqlite:///{tmp_path / 'empty.sqlite'}", "fitness-jobs db init"),
        "bad scheme": ("mysql://nobody@127.0.0.1/none", "configuration error"),
    }[problem]
    monkeypatch.setenv("FITNESS_DATABASE_URL", url)
    set_now(NOW)
    assert expected in _usage_error(argv, capsys)
    _no_runs()


def test_db_commands_on_an_unreachable_database(
    dagster_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FITNESS_DATABASE_URL", UNREACHABLE)
    for argv in (["db", "init"], ["demo", "seed", "--users", "3"]):
        assert "cannot connect" in _usage_error(argv, capsys)


def test_one_line_in_a_real_process(sqlite_engine: sa.Engine, tmp_path: Path) -> None:
    """What cron mails: nothing but the one line (no warnings, no usage block)."""
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(home), "FITNESS_DATABASE_URL": url_of(sqlite_engine)}
    for argv in (["weekly", "--week", "2999-12-30"], ["weekly", "--regenerate"]):
        done = subprocess.run(
            [sys.executable, "-m", "fitness_jobs.cli", *argv],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 2, done.stderr
        assert len(done.stderr.splitlines()) == 1, done.stderr
        assert done.stdout == ""
