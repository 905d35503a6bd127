"""Two runs of one partition at the same time (design §8.4, §4), on SQLite and PostgreSQL:
each in its own thread with its own engine, as two Dagster runs or two cron jobs would be.
Together they leave exactly the rows one clean run writes, and write each user once."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import pandas as pd
import sqlalchemy as sa

from fitness_jobs.db import reads
from fitness_jobs.db.engine import make_engine
from fitness_jobs.demo.generator import DemoConfig, generate_demo, write_demo
from fitness_jobs.pipelines.nightly import run_nightly
from fitness_jobs.pipelines.weekly import report_rows, run_weekly

D = dt.date(2026, 11, 28)  # nightly partition
W = dt.date(2026, 11, 16)  # reported week, over everywhere by NOW
NOW = dt.datetime(2026, 11, 29, 2, 0, tzinfo=dt.UTC)
KEY = ["user_id", "metrics_date"]


def _seed(engine: sa.Engine) -> None:
    frames = generate_demo(DemoConfig(users=300, seed=3, today=D))
    write_demo(engine, frames)


def _both_at_once(engine: sa.Engine, run: Callable[[sa.Engine, int], Any]) -> list[Any]:
    """``run(engine, i)`` in two threads, each with a new engine on the same database,
    released together."""
    url = engine.url.render_as_string(hide_password=False)
    start = threading.Barrier(2)
    results: list[Any] = [None, None]
    errors: list[BaseException] = []

    def go(i: int) -> None:
        own = make_engine(url)
        try:
            start.wait()
            results[i] = run(own, i)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            own.dispose()

    threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not errors, errors
    assert all(not t.is_alive() for t in threads)
    return results


def _metrics(engine: sa.Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        frame = reads.metrics_rows(conn)
    return frame.sort_values(KEY).reset_index(drop=True)


def test_two_concurrent_nightly_runs_write_what_one_clean_run_writes(
    db_engine: sa.Engine,
) -> None:
    _seed(db_engine)
    # Different clocks, so "changed" cannot come from computed_at alone.
    reports = _both_at_once(
        db_engine, lambda e, i: run_nightly(e, D, now=NOW + dt.timedelta(minutes=i))
    )
    together = _metrics(db_engine)

    with db_engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM user_behavior_metrics"))
    clean = run_nightly(db_engine, D, now=NOW)
    alone = _metrics(db_engine)

    assert clean.failed == {} and clean.active_users > 200  # a realistic population
    assert clean.written == clean.changed == clean.active_users == len(alone)
    users = sorted(alone["user_id"].tolist())
    assert len(set(users)) == len(users)  # one row per user and snapshot
    assert not together.duplicated(KEY).any() and not together["user_id"].duplicated().any()
    pd.testing.assert_frame_equal(
        together.drop(columns=["computed_at"]), alone.drop(columns=["computed_at"])
    )
    for report in reports:
        assert report.failed == {}
        assert report.active_users == report.written == clean.active_users
    # Each user's row was inserted by one of the two runs, none twice (the rows were
    # counted by the database as they were written) …
    assert reports[0].changed + reports[1].changed == len(users)
    assert [d.changed for r in reports for d in r.days] == [r.changed for r in reports]
    # … and with the partition lock, the second run found the work done.
    assert sorted(r.changed for r in reports) == [0, clean.active_users]


def test_two_concurrent_weekly_catch_ups_claim_each_report_once(db_engine: sa.Engine) -> None:
    _seed(db_engine)
    runs = _both_at_once(db_engine, lambda e, i: run_weekly(e, mode="catch_up", week=W, now=NOW))
    together = report_rows(db_engine, W)

    with db_engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM transformation_predictions"))
        conn.execute(sa.text("DELETE FROM weekly_reports"))
    clean = run_weekly(db_engine, mode="catch_up", week=W, now=NOW)
    alone = report_rows(db_engine, W)

    assert clean.failed == {} and clean.written > 50
    users = sorted(clean.written_user_ids)
    assert sorted(runs[0].written_user_ids + runs[1].written_user_ids) == users
    assert sorted(r.written for r in runs) == [0, clean.written]
    assert together["user_id"].is_unique and sorted(together["user_id"]) == users
    pd.testing.assert_frame_equal(
        together.drop(columns=["id", "generated_at"]).reset_index(drop=True),
        alone.drop(columns=["id", "generated_at"]).reset_index(drop=True),
    )
