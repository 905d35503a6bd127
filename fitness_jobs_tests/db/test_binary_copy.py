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


def _reports(n: int = 5) -> pd.DataFrame:
    """``weekly_reports`` rows: JSON documents (nested, non-ASCII, awkward floats) and
    texts, NULL among them."""
    from fitness_jobs.pipelines.weekly_chunk import REPORT_COLUMNS

    frame = pd.DataFrame({"user_id": np.arange(1, n + 1, dtype=np.int64)})
    for column in REPORT_COLUMNS:
        if column not in frame:
            frame[column] = 1.25
    frame["week_start"] = dt.date(2026, 11, 16)
    frame["generated_at"] = pd.Timestamp("2026-11-23 04:00", tz="UTC")
    for column in ("report_version", "sessions", "session_target", "streak_weeks"):
        frame[column] = np.int64(3)
    frame["timezone"] = "Asia/Kolkata"
    frame["acwr_flag"] = ["spike", None, None, "spike", None]
    frame["lapse_risk"] = pd.Series(
        ["on_track", None, "at_risk", "lapsed", "slipping"], dtype=object
    )
    frame["prediction_status"] = "ok"
    frame["summary_text"] = [f"Semaine {i} — 3/4 séances, «bien» 💪" for i in range(n)]
    frame["report"] = pd.Series(
        [
            {"a": [1, 2.5, None], "b": {"c": "naïve — ✓", "d": 0.1 + 0.2}, "e": True},
            {"volume_by_week": [{"week_start": "2026-11-16", "volume_load_kg": 1e-7}]},
            ["a JSON array", "of strings", []],
            {"x": 23.999999999999996, "y": -0.0, "z": 12345678901234567890},
            {"quote": 'he said "hi"\\ \n\t'},
        ],
        dtype=object,
    )
    return frame


def test_documents_and_many_texts_go_by_binary_copy_as_they_would_by_text(
    postgres_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """JSON documents (``jsonb``'s binary form) and text with more distinct values than
    labels are sent value by value; the rows equal those the text path writes."""
    monkeypatch.setattr(binary_copy, "MAX_LABELS", 2)  # summary_text goes value by value
    frame = _reports()
    table = bulk.table("weekly_reports")
    assert binary_copy.encode(frame["summary_text"], table.c["summary_text"].type).variable
    assert binary_copy.encode(frame["report"], table.c["report"].type).pg_type == "jsonb"
    key = ("user_id", "week_start")

    def read() -> pd.DataFrame:
        with postgres_engine.connect() as conn:
            got = pd.read_sql(sa.text("SELECT * FROM weekly_reports ORDER BY user_id"), conn)
        return got.drop(columns="id")

    with postgres_engine.begin() as conn:
        staged = binary_copy.stage_frame(conn, frame, table)
        assert staged is not None
        assert len(bulk.upsert(conn, "weekly_reports", frame, key)) == len(frame)
    binary = read()
    with postgres_engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM weekly_reports"))
    monkeypatch.setattr(binary_copy, "stage_frame", lambda *_args: None)  # the text path
    with postgres_engine.begin() as conn:
        assert len(bulk.upsert(conn, "weekly_reports", frame, key)) == len(frame)
    text = read()
    pd.testing.assert_frame_equal(binary, text, check_exact=True)
    assert binary["report"].tolist() == frame["report"].tolist()
    assert binary["summary_text"].tolist() == frame["summary_text"].tolist()
    assert binary["lapse_risk"].isna().tolist() == [False, True, False, False, False]


def test_dates_far_from_now_arrive_exactly(postgres_engine: sa.Engine) -> None:
    """Dates past nanosecond instants' range (2262) and before the 2000 epoch."""
    frame = _frame().head(3)
    frame["metrics_date"] = [dt.date(9999, 12, 31), dt.date(1999, 12, 31), dt.date(1, 1, 1)]
    with postgres_engine.begin() as conn:
        assert len(bulk.upsert(conn, TABLE, frame, KEY)) == 3
    got = _read(postgres_engine)["metrics_date"].tolist()
    assert sorted(got) == sorted(frame["metrics_date"].tolist())


def _flags(conn: sa.Connection, stage: str) -> list[str]:
    """The staging table's NULL-flag columns (``n<i>``)."""
    names = conn.exec_driver_sql(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %(t)s",
        {"t": stage},
    ).scalars()
    return sorted(name for name in names if name.startswith("n"))


def test_only_columns_holding_a_null_carry_a_null_flag(postgres_engine: sa.Engine) -> None:
    """A column with a NULL in the frame is staged with a flag beside it, one without
    alone; frames of either shape store the same rows."""
    frame = _frame()
    table = bulk.table(TABLE)
    with postgres_engine.begin() as conn:
        some = binary_copy.stage_frame(conn, frame, table)
        none = binary_copy.stage_frame(conn, frame.iloc[[2, 3]], table)
        assert some is not None and none is not None and some.table != none.table
        nullable = ["completion_rate_28d", "gap_median_days", "acwr",
                    "days_since_last_session", "preferred_weekday"]  # fmt: skip
        assert _flags(conn, some.table) == sorted(f"n{frame.columns.get_loc(c)}" for c in nullable)
        assert _flags(conn, none.table) == []
    with postgres_engine.begin() as conn:
        bulk.upsert(conn, TABLE, frame, KEY)
    whole = _read(postgres_engine)
    with postgres_engine.begin() as conn:
        conn.execute(sa.text(f"DELETE FROM {TABLE}"))
        bulk.upsert(conn, TABLE, frame.iloc[[2, 3]], KEY)
        bulk.upsert(conn, TABLE, frame.iloc[[0, 1, 4, 5]], KEY)
    pd.testing.assert_frame_equal(_read(postgres_engine), whole, check_exact=True)
    assert whole["acwr"].isna().tolist() == [False, True] + [False] * 4
