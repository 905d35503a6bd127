"""Range runs (design §2.1, §11) on SQLite and PostgreSQL: a run over many nightly days,
or many report weeks, writes exactly the rows of one run per day (week), value by value;
through Dagster too, with each partition's own counts in its metadata."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from collections.abc import Iterator
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from fitness_jobs.db import reads
from fitness_jobs.db.locks import LockTimeout, partition_lock
from fitness_jobs.db.schema import CoachUsageDaily, TransformationPrediction, WeeklyReport
from fitness_jobs.defs.nightly.assets import coach_usage_daily, user_behavior_metrics
from fitness_jobs.defs.resources import AppDatabase
from fitness_jobs.defs.weekly.assets import weekly_reports
from fitness_jobs.demo.generator import DemoConfig, generate_demo, write_demo
from fitness_jobs.errors import ConfigurationError
from fitness_jobs.pipelines.nightly import (
    NightlyReport,
    finish_nightly,
    partition_days,
    plan_nightly,
    run_coach_usage,
    run_nightly,
    run_nightly_part,
    run_nightly_range,
)
from fitness_jobs.pipelines.weekly import run_weekly, run_weekly_range
from fitness_jobs_tests.factories import user, workout, write

NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
DAYS = partition_days(dt.date(2026, 11, 17), dt.date(2026, 11, 26))  # ten nightly partitions
WEEKS = [dt.date(2026, 11, 2), dt.date(2026, 11, 9), dt.date(2026, 11, 16)]
KEY = ["user_id", "metrics_date"]
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


@pytest.fixture(scope="module")
def demo_frames() -> dict[str, pd.DataFrame]:
    """250 demo users (every persona and zone, bad rows and invalid zones included)."""
    config = DemoConfig(users=250, seed=11, today=NOW.date(), with_bad_rows=True)
    return generate_demo(config, now=NOW)


@pytest.fixture
def demo(db_engine: sa.Engine, demo_frames: dict[str, pd.DataFrame]) -> sa.Engine:
    write_demo(db_engine, demo_frames)
    return db_engine


def _metrics(engine: sa.Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        frame = reads.metrics_rows(conn)
    return frame.sort_values(KEY).reset_index(drop=True)


def _delete(engine: sa.Engine, *tables: str) -> None:
    with engine.begin() as conn:
        for table in tables:
            conn.execute(sa.text(f"DELETE FROM {table}"))


def _same_rows(got: pd.DataFrame, expected: pd.DataFrame, ignore: list[str]) -> None:
    """Equal value by value (floats exactly), every column but ``ignore``."""
    pd.testing.assert_frame_equal(
        got.drop(columns=ignore), expected.drop(columns=ignore), check_exact=True
    )


def _per_day(report: NightlyReport) -> list[tuple[Any, ...]]:
    """A range's counts per day …"""
    return [
        (d.partition, d.active_users, d.written, d.failed, d.changed, d.lapse_risk, d.metrics_dates)
        for d in report.days
    ]


def _single_days(singles: list[NightlyReport]) -> list[tuple[Any, ...]]:
    """… and those of single runs, in the same shape."""
    return [
        (
            s.partition,
            s.active_users,
            s.written,
            len(s.failed),
            s.changed,
            s.lapse_risk,
            s.metrics_dates,
        )
        for s in singles
    ]


# --------------------------------------------------------------------------- nightly


@pytest.mark.parametrize(("limit", "chunk_size"), [(None, 97), (40, 17)])
def test_a_range_writes_the_rows_of_one_run_per_day(
    demo: sa.Engine, limit: int | None, chunk_size: int
) -> None:
    singles = [run_nightly(demo, day, limit=limit, now=NOW) for day in DAYS]
    expected = _metrics(demo)
    assert len(expected) == sum(s.written for s in singles)
    assert expected["metrics_date"].nunique() >= len(DAYS)  # local dates either side of UTC
    assert all(s.failed for s in singles) == (limit is None)  # invalid zones: ids 251+

    # Over the single runs' rows: nothing changes, not even computed_at.
    again = run_nightly_range(demo, DAYS[0], DAYS[-1], limit=limit, now=NOW + dt.timedelta(hours=1))
    assert again.changed == 0 and [d.changed for d in again.days] == [0] * len(DAYS)
    _same_rows(_metrics(demo), expected, ignore=[])

    # From nothing, in blocks of 4 days and small chunks: the same rows.
    _delete(demo, "user_behavior_metrics")
    report = run_nightly_range(
        demo,
        DAYS[0],
        DAYS[-1],
        limit=limit,
        chunk_size=chunk_size,
        days_per_read=4,
        now=NOW + dt.timedelta(hours=2),
    )
    got = _metrics(demo)
    _same_rows(got, expected, ignore=["computed_at"])
    assert (got["computed_at"] == NOW + dt.timedelta(hours=2)).all()

    assert _per_day(report) == _single_days(singles)
    assert report.written == report.changed == len(expected)
    assert report.failed == {uid: code for s in singles for uid, code in s.failed.items()}
    assert report.missing_user_ids == sorted({u for s in singles for u in s.missing_user_ids})
    assert report.range_violations == {}
    assert report.coach_users_with_usage == sum(s.coach_users_with_usage for s in singles)
    if limit is not None:
        assert [d.active_users for d in report.days] == [limit] * len(DAYS)
    assert report.chunks > 3  # several chunks and blocks


def test_parts_of_a_fanned_out_run_write_the_rows_of_one(demo: sa.Engine) -> None:
    """Users split into three parts (as three executor steps would run them): each part a
    disjoint slice of ids holding its own locks; merged, the report and the rows are
    those of one part."""
    whole = run_nightly_range(demo, DAYS[0], DAYS[3], chunk_size=60, now=NOW)
    expected = _metrics(demo)
    _delete(demo, "user_behavior_metrics")

    plan = plan_nightly(demo, DAYS[0], DAYS[3], chunk_size=60, parts=3, now=NOW)
    assert [p.label for p in plan.parts] == ["part 1 of 3", "part 2 of 3", "part 3 of 3"]
    slices = [np.unique(np.concatenate(list(p.blocks[0].values()))) for p in plan.parts]
    assert sum(p.users for p in plan.parts) == plan.users == len(np.unique(np.concatenate(slices)))
    assert all(a.max() < b.min() for a, b in itertools.pairwise(slices))
    assert plan.parts[1].lock_name(DAYS[0]) == f"user_behavior_metrics:{DAYS[0]}:2/3"
    assert plan_nightly(demo, DAYS[0], DAYS[0], now=NOW).parts[0].lock_name(DAYS[0]) == (
        f"user_behavior_metrics:{DAYS[0]}"  # one part: the partition's own lock
    )
    reports = [run_nightly_part(demo, part) for part in reversed(plan.parts)]
    merged = finish_nightly(demo, plan, reports)

    _same_rows(_metrics(demo), expected, ignore=["computed_at"])
    assert _per_day(merged) == _per_day(whole)
    assert merged.failed == whole.failed and merged.failed  # the invalid zones
    assert merged.written == merged.changed == whole.written
    assert merged.chunks > whole.chunks  # smaller slices, more chunks


def test_a_block_longer_than_a_month_takes_fewer_users_per_chunk(demo: sa.Engine) -> None:
    """A chunk holds at most ``chunk_size × 31`` user-days: blocks of up to 31 days keep
    ``chunk_size`` users, a longer block fewer in proportion (never none)."""
    for days_per_read, chunk_size, expected in [(4, 60, 60), (31, 60, 60), (62, 60, 30)]:
        plan = plan_nightly(
            demo,
            DAYS[0],
            DAYS[0] + dt.timedelta(days=days_per_read - 1),
            chunk_size=chunk_size,
            days_per_read=days_per_read,
            limit=0,
            now=NOW,
        )
        assert [p.chunk_size for p in plan.parts] == [expected]
    last = DAYS[0] + dt.timedelta(days=61)
    plan = plan_nightly(demo, DAYS[0], last, chunk_size=1, days_per_read=62, limit=0, now=NOW)
    assert plan.parts[0].chunk_size == 1


def test_one_day_is_a_range_of_one(demo: sa.Engine) -> None:
    single = run_nightly(demo, DAYS[0], now=NOW)
    assert not single.is_range and single.partition == single.last_partition == DAYS[0]
    assert single.written == single.changed == single.days[0].written > 100
    _delete(demo, "user_behavior_metrics")
    ranged = run_nightly_range(demo, DAYS[0], DAYS[0], now=NOW)
    assert _per_day(ranged) == _single_days([single])


def test_a_later_day_with_the_same_local_date_wins_as_in_single_runs(
    db_engine: sa.Engine,
) -> None:
    """Azores leaves summer time (UTC+0 → UTC−1) on 25 Oct 2026 at 01:00 UTC: partition
    24 Oct snapshots at local 25 Oct 00:00, partition 25 Oct at local 25 Oct 23:00.  One
    (user, metrics_date) row; the later partition's, as the later of two single runs."""
    write(
        db_engine,
        users=[user(1, timezone="Atlantic/Azores"), user(2)],
        workouts=[workout(uid, f"2026-10-{d} 10:00") for uid in (1, 2) for d in (20, 25)],
    )
    first, last = dt.date(2026, 10, 24), dt.date(2026, 10, 25)
    for day in (first, last):
        run_nightly(db_engine, day, now=NOW)
    expected = _metrics(db_engine)
    _delete(db_engine, "user_behavior_metrics")
    report = run_nightly_range(db_engine, first, last, now=NOW)
    _same_rows(_metrics(db_engine), expected, ignore=["computed_at"])
    azores = expected[expected["user_id"] == 1]
    assert azores["metrics_date"].tolist() == [dt.date(2026, 10, 25)]
    assert azores["snapshot_at"].tolist()[0] == dt.datetime(2026, 10, 26, tzinfo=dt.UTC)
    assert [(d.written, d.superseded) for d in report.days] == [(1, 1), (2, 0)]
    assert report.failed == {}


def test_range_arguments_and_locks(db_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    write(db_engine, users=[user(1)], workouts=[workout(1, "2026-11-20 10:00")])
    with pytest.raises(ConfigurationError, match="before it starts"):
        run_nightly_range(db_engine, DAYS[1], DAYS[0], now=NOW)
    with pytest.raises(ConfigurationError, match="limit"):
        run_nightly_range(db_engine, DAYS[0], DAYS[1], limit=-1, now=NOW)
    assert run_nightly_range(db_engine, DAYS[0], DAYS[1], limit=0, now=NOW).written == 0

    # Another run holds one day of the range: the range waits for it, then gives up
    # naming that day's lock, having written nothing.
    monkeypatch.setenv("FITNESS_LOCK_TIMEOUT_SECONDS", "1")
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with partition_lock(db_engine, f"user_behavior_metrics:{DAYS[4]}", timeout_s=5):
            held.set()
            release.wait(20)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(5)
    try:
        with pytest.raises(LockTimeout, match=f"'user_behavior_metrics:{DAYS[4]}'"):
            run_nightly_range(db_engine, DAYS[0], DAYS[-1], now=NOW)
    finally:
        release.set()
        thread.join()
    assert _metrics(db_engine).empty
    # Released: the whole range (ten day locks on one connection) runs.
    report = run_nightly_range(db_engine, DAYS[0], DAYS[-1], now=NOW)
    assert report.written == sum(d.active_users for d in report.days) > 0


# --------------------------------------------------------------------------- weekly


def _weekly_rows(engine: sa.Engine) -> tuple[pd.DataFrame, pd.DataFrame]:
    frames = []
    with engine.connect() as conn:
        for model in (WeeklyReport, TransformationPrediction):
            t = model.__table__
            result = conn.execute(sa.select(t).order_by(t.c.user_id, t.c.week_start))
            frame = pd.DataFrame.from_records(result.all(), columns=list(result.keys()))
            frames.append(frame.drop(columns=["id", "generated_at"]).reset_index(drop=True))
    return frames[0], frames[1]


def test_a_range_of_weeks_writes_the_rows_of_one_run_per_week(demo: sa.Engine) -> None:
    singles = [run_weekly(demo, mode="catch_up", week=w, now=NOW) for w in WEEKS]
    reports, predictions = _weekly_rows(demo)
    assert len(reports) == sum(s.written for s in singles) > 100
    _delete(demo, "transformation_predictions", "weekly_reports")

    runs = run_weekly_range(demo, WEEKS[0], WEEKS[-1], now=NOW)
    assert [r.week_start for r in runs] == WEEKS
    assert [(r.due_users, r.written, r.failed) for r in runs] == [
        (s.due_users, s.written, s.failed) for s in singles
    ]
    got_reports, got_predictions = _weekly_rows(demo)
    pd.testing.assert_frame_equal(got_reports, reports, check_exact=True)
    pd.testing.assert_frame_equal(got_predictions, predictions, check_exact=True)

    with pytest.raises(ConfigurationError, match="not a Monday"):
        run_weekly_range(demo, WEEKS[0], WEEKS[1] + dt.timedelta(days=1), now=NOW)
    with pytest.raises(ConfigurationError, match="catch-up mode only"):
        run_weekly_range(demo, WEEKS[0], WEEKS[1], mode="window", now=NOW)


# --------------------------------------------------------------------------- Dagster


@pytest.fixture
def clean_demo(db_engine: sa.Engine) -> Iterator[sa.Engine]:
    """A population without bad rows, so a run passes its blocking check."""
    write_demo(db_engine, generate_demo(DemoConfig(users=120, seed=11, today=NOW.date()), now=NOW))
    yield db_engine


def _materialize(engine: sa.Engine, assets: list[Any], first: str, last: str) -> Any:
    url = engine.url.render_as_string(hide_password=False)
    return dg.materialize(
        assets,
        partition_key=None,
        tags={RANGE_START: first, RANGE_END: last},
        resources={"app_db": AppDatabase(url=url)},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def _usage_rows(engine: sa.Engine) -> pd.DataFrame:
    t = CoachUsageDaily.__table__
    with engine.connect() as conn:
        result = conn.execute(sa.select(t).order_by(t.c.usage_date))
        frame = pd.DataFrame.from_records(result.all(), columns=list(result.keys()))
    return frame.drop(columns=["computed_at"])


def test_a_dagster_range_run_writes_the_same_rows_and_lists_the_days(
    clean_demo: sa.Engine,
) -> None:
    days = DAYS[:3]
    singles = [run_nightly(clean_demo, day, now=NOW) for day in days]
    for day in days:
        run_coach_usage(clean_demo, day, now=NOW)
    expected, expected_usage = _metrics(clean_demo), _usage_rows(clean_demo)
    _delete(clean_demo, "user_behavior_metrics", "coach_usage_daily")

    result = _materialize(
        clean_demo, [user_behavior_metrics, coach_usage_daily], str(days[0]), str(days[-1])
    )
    assert result.success
    _same_rows(_metrics(clean_demo), expected, ignore=["computed_at"])
    pd.testing.assert_frame_equal(_usage_rows(clean_demo), expected_usage)

    mats = result.asset_materializations_for_node("user_behavior_metrics")
    assert [m.partition for m in mats] == [str(d) for d in days]
    for mat, single in zip(mats, singles, strict=True):
        md = {k: v.value for k, v in mat.metadata.items()}
        assert md["active_users"] == md["written_users"] == single.active_users > 50
        assert md["dagster/row_count"] == single.written
        assert md["snapshot_at"] == single.as_of.timestamp()
        assert md["metrics_dates"] == single.metrics_dates
        assert md["partition_range"] == f"{days[0]}...{days[-1]}"
        assert [d["partition"] for d in md["days"]] == [str(d) for d in days]
        assert [d["written"] for d in md["days"]] == [s.written for s in singles]
        assert md["failed_users"] == 0
    usage_mats = result.asset_materializations_for_node("coach_usage_daily")
    assert [m.partition for m in usage_mats] == [str(d) for d in days]
    totals = [m.metadata["total_requests"].value for m in usage_mats]
    assert totals == expected_usage["total_requests"].tolist()
    checks = {(e.check_name, e.passed) for e in result.get_asset_check_evaluations()}
    assert checks == {("no_failed_users", True)}


def test_a_dagster_range_of_weeks(clean_demo: sa.Engine) -> None:
    result = _materialize(clean_demo, [weekly_reports], str(WEEKS[0]), str(WEEKS[-1]))
    assert result.success
    mats = [
        m
        for m in result.asset_materializations_for_node("weekly_reports")
        if m.asset_key == dg.AssetKey("weekly_reports")
    ]
    assert [m.partition for m in mats] == [str(w) for w in WEEKS]
    weeks = mats[0].metadata["weeks"].value
    assert [w["week"] for w in weeks] == [str(w) for w in WEEKS]
    for mat, week in zip(mats, weeks, strict=True):
        assert mat.metadata["written_reports"].value == week["written"] > 0
    reports, _ = _weekly_rows(clean_demo)
    assert len(reports) == sum(w["written"] for w in weeks)
