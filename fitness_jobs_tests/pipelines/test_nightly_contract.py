"""The nightly run against the design's contract, on SQLite and PostgreSQL: the UTC window
of ``coach_requests_7d`` (§5.3), and the bookkeeping columns of every row (§4)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa

from fitness_jobs.db import reads
from fitness_jobs.pipelines.nightly import run_nightly
from fitness_jobs_tests.factories import ts, usage, user, workout, write

D = dt.date(2026, 11, 28)  # partition; as_of = 2026-11-29 00:00 UTC
NOW = ts("2026-11-29 02:00")


def _metrics(engine: sa.Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        return reads.metrics_rows(conn).set_index("user_id").sort_index()


def _day(offset: int) -> str:
    return (D + dt.timedelta(days=offset)).isoformat()


def test_coach_requests_7d_window_is_utc_days_d_minus_6_to_d(db_engine: sa.Engine) -> None:
    """``Σ request_count`` over the UTC dates ``[D − 6, D]`` of the partition day, whatever
    the user's ``metrics_date``: D − 7 and D + 1 are out, D − 6 and D are in."""
    zones = {
        1: "UTC",  # only on D − 7
        2: "UTC",  # only on D − 6
        3: "UTC",  # only on D
        4: "UTC",  # only on D + 1 (the UTC day after the snapshot)
        5: "UTC",  # on all four days
        6: "Pacific/Kiritimati",  # metrics_date D + 1; the window is still UTC D − 6 … D
        7: "Pacific/Pago_Pago",  # metrics_date D
    }
    write(
        db_engine,
        users=[user(uid, timezone=zone) for uid, zone in zones.items()],
        workouts=[workout(uid, "2026-11-27 12:00") for uid in zones],
        usage_rows=[
            usage(1, _day(-7), 1),
            usage(2, _day(-6), 20),
            usage(3, _day(0), 300),
            usage(4, _day(1), 4000),
            *(usage(5, _day(k), n) for k, n in ((-7, 1000), (-6, 100), (0, 10), (1, 1))),
            *(usage(6, _day(k), n) for k, n in ((-7, 7), (-6, 60), (-3, 500), (1, 9000))),
            *(usage(7, _day(k), n) for k, n in ((-7, 7), (-1, 80), (1, 9000))),
        ],
    )
    report = run_nightly(db_engine, D, now=NOW)
    assert report.failed == {} and report.written == 7
    rows = _metrics(db_engine)
    assert rows["coach_requests_7d"].to_dict() == {
        1: 0,
        2: 20,
        3: 300,
        4: 0,
        5: 100 + 10,
        6: 60 + 500,
        7: 80,
    }
    assert rows.loc[6, "metrics_date"] == dt.date(2026, 11, 29)
    assert rows.loc[7, "metrics_date"] == D


def test_snapshot_at_metrics_version_and_computed_at(db_engine: sa.Engine) -> None:
    """``snapshot_at`` is ``D+1 00:00 UTC`` exactly, ``metrics_version`` 1, ``computed_at``
    the run's clock; a re-run with a new clock and the same data keeps ``computed_at``,
    and one whose values changed stamps the new clock on that user's row only."""
    zones = {1: "UTC", 2: "Pacific/Kiritimati", 3: "Pacific/Pago_Pago", 4: "Asia/Kathmandu"}
    write(
        db_engine,
        users=[user(uid, timezone=zone) for uid, zone in zones.items()],
        workouts=[workout(uid, "2026-11-27 12:00", id=100 + uid) for uid in zones],
    )
    report = run_nightly(db_engine, D, now=NOW)
    assert report.written == 4 and report.changed == 4
    rows = _metrics(db_engine)
    as_of = dt.datetime(2026, 11, 29, 0, 0, 0, tzinfo=dt.UTC)
    for uid in zones:
        snapshot = rows.loc[uid, "snapshot_at"]
        assert snapshot == as_of and snapshot.utcoffset() == dt.timedelta(0), uid
        assert rows.loc[uid, "computed_at"] == NOW, uid
        assert int(rows.loc[uid, "metrics_version"]) == 1, uid
    assert rows["metrics_date"].to_dict() == {
        1: dt.date(2026, 11, 29),
        2: dt.date(2026, 11, 29),
        3: D,
        4: dt.date(2026, 11, 29),
    }

    later = NOW + dt.timedelta(hours=3)
    again = run_nightly(db_engine, D, now=later)
    assert again.written == 4 and again.changed == 0
    assert _metrics(db_engine)["computed_at"].tolist() == [NOW] * 4

    write(db_engine, workouts=[workout(3, "2026-11-28 08:00", id=200)])  # user 3 only
    latest = NOW + dt.timedelta(hours=5)
    third = run_nightly(db_engine, D, now=latest)
    assert third.changed == 1 and third.days[0].changed == 1
    after = _metrics(db_engine)
    assert after["computed_at"].to_dict() == {1: NOW, 2: NOW, 3: latest, 4: NOW}
    assert after.loc[3, "sessions_7d"] == 2
    assert (after["snapshot_at"] == as_of).all()
