"""``fitness-jobs nightly`` and the old nightly entry point: exit codes, run history, the
reaper of killed runs (moved here from the defs tests)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from fitness_jobs import cli
from fitness_jobs.pipelines.nightly import default_partition
from fitness_jobs_tests.cli.conftest import url_of
from fitness_jobs_tests.factories import ts, user, workout, write


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
    monkeypatch.setenv("FITNESS_DATABASE_URL", url_of(cli_env))

    write(cli_env, users=[user(3, timezone="Mars/Base")], workouts=[workout(3, "2026-11-27 10:00")])
    assert cli.main(["nightly", "--partition", "2026-11-28", "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "3 (invalid_timezone)" in out
    assert "@example.com" not in out

    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs()
    assert len(runs) == 2  # usage and configuration errors never start a run
    assert all(r.job_name == "nightly_metrics_job" for r in runs)


def test_old_nightly_entry_point_runs_the_default_partition(
    cli_env: sa.Engine,
    capsys: pytest.CaptureFixture[str],
    set_now: Callable[[str], None],
) -> None:
    """The default partition follows the clock; with the clock fixed the outcome is known."""
    from fitness_jobs.jobs import nightly_job

    write(
        cli_env,
        users=[user(1), user(3, timezone="Mars/Base")],
        workouts=[workout(1, "2026-11-27 10:00"), workout(3, "2026-11-27 10:00")],
    )
    assert default_partition(ts("2026-11-29 03:00")).isoformat() == "2026-11-28"
    set_now("2026-11-29T03:00:00+00:00")
    assert nightly_job.main(["--limit", "5", "--quiet"]) == 1  # user 3's zone is invalid
    out = capsys.readouterr().out
    assert "partition 2026-11-28" in out and "3 (invalid_timezone)" in out

    # Before the 02:00 UTC tick the schedule would still run the day before yesterday, when
    # nobody had trained yet: nobody active, nobody failed.
    set_now("2026-11-28T01:00:00+00:00")
    assert nightly_job.main(["--quiet"]) == 0
    out = capsys.readouterr().out
    assert "partition 2026-11-26" in out and "active users 0" in out


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
    from fitness_jobs.settings import PROJECT_ROOT

    home = tmp_path / "dagster_home"
    home.mkdir()
    config = (PROJECT_ROOT / "dagster.yaml").read_text().replace(".dagster_home", str(home))
    (home / "dagster.yaml").write_text(config)  # pools default_limit 1, as shipped
    env = {**os.environ, "DAGSTER_HOME": str(home), "FITNESS_DATABASE_URL": url_of(sqlite_engine)}
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
