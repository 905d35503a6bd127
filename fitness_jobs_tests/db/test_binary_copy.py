"""Frames staged by binary COPY (PostgreSQL): the database holds exactly what the text
(CSV) staging would have put there, NULLs included, and refusals stay per row."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from fitness_jobs.core.metrics import METRIC_COLUMNS
from fitness_jobs.db import binary_copy, bulk, isolated_writes

KEY = ("user_id", "metrics_date")
TABLE = "user_behavior_metrics"


def _frame(n: int = 6) -> pd.DataFrame:
    """Metrics rows covering each kind of column, with NULLs where the table allows them,
    awkward floats and texts, and a row at the far ends of the types."""
    rng = np.random.default_rng(11)
    frame = pd.DataFrame(
        {
            "user_id": np.arange(1, n + 1, dtype=np.int64) * 1_000_000_007,
            "metrics_date": [dt.date(2026, 11, 28) + dt.timedelta(days=i) for i in range(n)],
            "snapshot_at": pd.Timestamp("2026-11-29 00:00", tz="UTC"),
            "computed_at": pd.Timestamp("2026-11-29 02:03:04.123456", tz="UTC"),
            "timezone": ["Europe/Berlin", "America/Argentina/Buenos_Aires", "UTC"] * (n // 3),
            "metrics_version": 1,
        }
    )
    for column in METRIC_COLUMNS:
        frame[column] = rng.random(n) * 1e3
    ints = ["sessions_7d", "sessions_28d", "sessions_30d", "completed_28d", "partial_28d",
            "abandoned_28d", "weekly_target", "current_streak_weeks", "longest_streak_weeks",
            "coach_requests_7d"]  # fmt: skip
    for column in ints:
        frame[column] = rng.integers(0, 50, n).astype(np.int64)
    frame["weekly_target"] = np.int64(32_767)  # smallint's largest
    frame["days_since_last_session"] = pd.array([3, None, 0, 2_147_483_647, 1, None], "Int64")
    frame["preferred_weekday"] = pd.array([None, 6, 0, 1, None, 2], "Int64")
    frame["lapse_risk"] = ["on_track", "slipping", "at_risk", "lapsed", "on_track", "lapsed"]
    frame.loc[1, ["completion_rate_28d", "gap_median_days", "acwr"]] = np.nan
    frame.loc[2, "volume_change_pct"] = -0.0
    frame.loc[3, "preferred_hour_local"] = 23.999999999999996  # needs all 17 digits
    frame.loc[4, "ctl"] = 5e-324  # the smallest subnormal
    frame.loc[5, "tsb"] = -1.7976931348623157e308
    return frame


def _read(engine: sa.Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        rows = pd.read_sql(sa.text(f"SELECT * FROM {TABLE} ORDER BY user_id"), conn)
    return rows


def test_binary_staging_stores_what_text_staging_stores(
    postgres_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = _frame()
    with postgres_engine.begin() as conn:
        assert len(bulk.upsert(conn, TABLE, frame, KEY)) == len(frame)
    binary = _read(postgres_engine)
    with postgres_engine.begin() as conn:
        conn.execute(sa.text(f"DELETE FROM {TABLE}"))
    monkeypatch.setattr(binary_copy, "stage_frame", lambda *_args: None)  # text only
    with postgres_engine.begin() as conn:
        assert len(bulk.upsert(conn, TABLE, frame, KEY)) == len(frame)
    text = _read(postgres_engine)
    pd.testing.assert_frame_equal(binary, text, check_exact=True)
    # And the values are the frame's, bit for bit, NULL where it had NaN or NA.
    assert binary["preferred_hour_local"].tolist()[3] == 23.999999999999996
    assert binary["ctl"].tolist()[4] == 5e-324
    assert binary["timezone"].tolist()[1] == "America/Argentina/Buenos_Aires"
    assert binary["completion_rate_28d"].isna().tolist() == [False, True] + [False] * 4
    assert binary["days_since_last_session"].isna().tolist() == [False, True, False, False,
                                                                False, True]  # fmt: skip
    assert binary["metrics_date"].tolist()[0] == dt.date(2026, 11, 28)
    assert pd.Timestamp(binary["computed_at"].tolist()[0]) == frame["computed_at"][0]


def test_binary_staging_is_used_and_unchanged_rows_are_left(postgres_engine: sa.Engine) -> None:
    frame = _frame()
    with postgres_engine.begin() as conn:
        staged = binary_copy.stage_frame(conn, frame, bulk.table(TABLE))
        assert staged is not None
        count = conn.exec_driver_sql(f'SELECT count(*) FROM "{staged.table}"').scalar_one()
        assert count == len(frame)
    with postgres_engine.begin() as conn:
        bulk.upsert(conn, TABLE, frame, KEY)
    later = frame.assign(computed_at=pd.Timestamp("2026-11-30", tz="UTC"))
    later.loc[2, "sessions_7d"] += 1
    with postgres_engine.begin() as conn:
        changed = bulk.upsert(
            conn, TABLE, later, KEY, unchanged_unless=["snapshot_at", *METRIC_COLUMNS]
        )
    assert [k[0] for k in changed] == [frame["user_id"][2]]


def test_a_value_out_of_the_columns_range_fails_only_its_row(postgres_engine: sa.Engine) -> None:
    frame = _frame()
    frame.loc[4, "weekly_target"] = 32_768  # one past smallint

    def writer(conn: sa.Connection, ids: list[int]) -> int:
        rows = frame[frame["user_id"].isin(ids)]
        return len(bulk.upsert(conn, TABLE, rows, KEY))

    outcome = isolated_writes.write_isolated(postgres_engine, frame["user_id"].tolist(), writer)
    assert outcome.failed == {int(frame["user_id"][4]): "write_rejected:NumericValueOutOfRange"}
    assert len(outcome.committed) == len(frame) - 1


def test_columns_it_cannot_encode_fall_back_to_text() -> None:
    table = bulk.table(TABLE)
    assert binary_copy.encode(pd.Series([1.5, 2.0]), table.c["sessions_7d"].type) is None
    assert binary_copy.encode(pd.Series([1, 2]), table.c["timezone"].type) is None
    assert binary_copy.encode(pd.Series([{"a": 1}]), sa.JSON()) is None


def test_dates_far_from_now_arrive_exactly(postgres_engine: sa.Engine) -> None:
    """Dates past nanosecond instants' range (2262) and before the 2000 epoch."""
    frame = _frame().head(3)
    frame["metrics_date"] = [dt.date(9999, 12, 31), dt.date(1999, 12, 31), dt.date(1, 1, 1)]
    with postgres_engine.begin() as conn:
        assert len(bulk.upsert(conn, TABLE, frame, KEY)) == 3
    got = _read(postgres_engine)["metrics_date"].tolist()
    assert sorted(got) == sorted(frame["metrics_date"].tolist())
