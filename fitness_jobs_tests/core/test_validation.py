"""Validation of raw rows (design §8): each reason, first-reason-wins, good rows untouched."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest

from fitness_jobs.core import calendar, validation
from fitness_jobs.core.validation import (
    ABSURD_DURATION,
    DUPLICATE_WORKOUT,
    FUTURE_TIMESTAMP,
    INVALID_BODY_WEIGHT,
    INVALID_REPS,
    INVALID_SET_WEIGHT,
    INVALID_TIMEZONE,
    MISSING_TIMESTAMP,
    NEGATIVE_DURATION,
    NON_FINITE_VALUE,
    SESSION_RPE_OUT_OF_RANGE,
    STARTED_AFTER_FINALIZED,
    UNKNOWN_STATUS,
    WORKOUT_EXCLUDED,
    validate_sets,
    validate_users,
    validate_weigh_ins,
    validate_workouts,
)

NOW = pd.Timestamp("2026-03-11T12:00:00Z")


def workouts(*rows: dict[str, object]) -> pd.DataFrame:
    """Workout rows; unspecified fields are a valid 1-hour completed session."""
    base: dict[str, object] = {
        "user_id": 1,
        "status": "completed",
        "started_at": pd.Timestamp("2026-03-10T17:00Z"),
        "finalized_at": pd.Timestamp("2026-03-10T18:00Z"),
        "duration_seconds": 3600.0,
        "session_rpe": 7.0,
    }
    records = [{"workout_id": i + 1, **base, **row} for i, row in enumerate(rows)]
    frame = pd.DataFrame(records)
    for col in ("started_at", "finalized_at"):
        frame[col] = pd.to_datetime(frame[col], utc=True)
    return frame


def test_invalid_timezone_constant_is_calendars() -> None:
    assert INVALID_TIMEZONE == calendar.INVALID_TIMEZONE == "invalid_timezone"


def test_good_workouts_pass_untouched() -> None:
    df = workouts(
        {},
        {"status": "partial", "duration_seconds": np.nan, "session_rpe": np.nan},
        {"status": "in_progress", "finalized_at": pd.NaT},
        {"status": "abandoned", "duration_seconds": 0.0, "session_rpe": 1.0},
        {
            "duration_seconds": 12 * 3600.0,
            "session_rpe": 10.0,
            "started_at": pd.Timestamp("2026-03-09T06:00Z"),
        },
        {"finalized_at": NOW + pd.Timedelta(minutes=4)},  # clock skew tolerance
        {"started_at": pd.Timestamp("2026-03-10T18:00Z")},  # started == finalized
        {"user_id": 2},  # same times, other user: not a duplicate
    )
    clean, counts = validate_workouts(df, NOW)
    pd.testing.assert_frame_equal(clean, df)
    assert counts == Counter()


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"duration_seconds": np.inf}, NON_FINITE_VALUE),
        ({"duration_seconds": -np.inf}, NON_FINITE_VALUE),
        ({"session_rpe": np.inf}, NON_FINITE_VALUE),
        ({"duration_seconds": -1.0}, NEGATIVE_DURATION),
        ({"duration_seconds": 12 * 3600.0 + 1}, ABSURD_DURATION),
        ({"session_rpe": 0.0}, SESSION_RPE_OUT_OF_RANGE),
        ({"session_rpe": 11.0}, SESSION_RPE_OUT_OF_RANGE),
        ({"started_at": pd.Timestamp("2026-03-10T18:00:01Z")}, STARTED_AFTER_FINALIZED),
        ({"finalized_at": NOW + pd.Timedelta(minutes=6)}, FUTURE_TIMESTAMP),
        (
            {
                "status": "in_progress",
                "finalized_at": pd.NaT,
                "started_at": NOW + pd.Timedelta(hours=1),
            },
            FUTURE_TIMESTAMP,
        ),
        ({"status": "done"}, UNKNOWN_STATUS),
        ({"status": None}, UNKNOWN_STATUS),
        ({"status": "Completed"}, UNKNOWN_STATUS),
        ({"started_at": pd.NaT}, MISSING_TIMESTAMP),
    ],
)
def test_each_workout_reason(row: dict[str, object], reason: str) -> None:
    df = workouts({}, row)
    clean, counts = validate_workouts(df, NOW)
    assert clean["workout_id"].tolist() == [1]
    assert counts == Counter({reason: 1})


def test_object_column_nan_is_non_finite_but_none_is_missing() -> None:
    df = workouts({}, {}, {})
    df["started_at"] += pd.to_timedelta([0, 1, 2], unit="min")  # not duplicates
    df["session_rpe"] = pd.Series([None, float("nan"), 5], dtype=object)
    clean, counts = validate_workouts(df, NOW)
    assert clean["workout_id"].tolist() == [1, 3]
    assert counts == Counter({NON_FINITE_VALUE: 1})


def test_duplicates_keep_lowest_workout_id() -> None:
    df = workouts({}, {}, {}, {"status": "partial"}, {"status": "in_progress", "finalized_at": pd.NaT},
                  {"status": "in_progress", "finalized_at": pd.NaT})  # fmt: skip
    df["workout_id"] = [30, 10, 20, 40, 50, 60]
    clean, counts = validate_workouts(df, NOW)
    assert sorted(clean["workout_id"].tolist()) == [10, 40, 50]
    assert counts == Counter({DUPLICATE_WORKOUT: 3})


def test_duplicate_of_an_excluded_row_is_kept() -> None:
    # The lowest id is bad for another reason: the valid copy survives.
    df = workouts({"session_rpe": 12.0}, {"session_rpe": 7.0})
    clean, counts = validate_workouts(df, NOW)
    assert clean["workout_id"].tolist() == [2]
    assert counts == Counter({SESSION_RPE_OUT_OF_RANGE: 1})


def test_first_reason_wins_and_counts_add_up() -> None:
    df = workouts(
        {"status": "bogus", "duration_seconds": -5.0},  # unknown_status first
        {"duration_seconds": -5.0, "session_rpe": 20.0},  # negative_duration before rpe
        {"duration_seconds": 3600.0},
    )
    clean, counts = validate_workouts(df, NOW)
    assert clean["workout_id"].tolist() == [3]
    assert counts == Counter({UNKNOWN_STATUS: 1, NEGATIVE_DURATION: 1})


def test_naive_timestamps_are_utc_and_now_may_be_naive() -> None:
    df = workouts({}, {})
    df["started_at"] = df["started_at"].dt.tz_localize(None)
    df["finalized_at"] = df["finalized_at"].dt.tz_localize(None)
    df.loc[1, "finalized_at"] = pd.Timestamp("2026-03-11T12:06:00")
    clean, counts = validate_workouts(df, NOW.tz_localize(None))
    assert clean["workout_id"].tolist() == [1]
    assert counts == Counter({FUTURE_TIMESTAMP: 1})


def test_empty_frames() -> None:
    df = workouts({}).iloc[0:0]
    clean, counts = validate_workouts(df, NOW)
    assert len(clean) == 0 and counts == Counter()


# ---------------------------------------------------------------------------- sets


def sets_frame(*rows: dict[str, object]) -> pd.DataFrame:
    base = {"user_id": 1, "workout_id": 1, "exercise": "squat", "muscle_group": "quads",
            "secondary_muscle_group": None, "reps": 5, "weight_kg": 100.0, "rpe": 8.0,
            "is_warmup": False}  # fmt: skip
    return pd.DataFrame([{"id": i + 1, **base, **row} for i, row in enumerate(rows)])


def test_sets_good_rows_untouched() -> None:
    df = sets_frame({}, {"reps": 1, "weight_kg": 0.0}, {"reps": 100, "weight_kg": 600.0})
    clean, counts = validate_sets(df)
    pd.testing.assert_frame_equal(clean, df)
    assert counts == Counter()


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"reps": 0}, INVALID_REPS),
        ({"reps": 101}, INVALID_REPS),
        ({"reps": np.nan}, INVALID_REPS),
        ({"reps": np.inf}, INVALID_REPS),
        ({"weight_kg": -0.5}, INVALID_SET_WEIGHT),
        ({"weight_kg": 600.5}, INVALID_SET_WEIGHT),
        ({"weight_kg": np.nan}, INVALID_SET_WEIGHT),
        ({"weight_kg": -np.inf}, INVALID_SET_WEIGHT),
    ],
)
def test_each_set_reason(row: dict[str, object], reason: str) -> None:
    clean, counts = validate_sets(sets_frame({}, row))
    assert clean["id"].tolist() == [1]
    assert counts == Counter({reason: 1})


def test_sets_of_excluded_workouts_are_dropped() -> None:
    df = sets_frame({"workout_id": 1}, {"workout_id": 2}, {"workout_id": 3, "reps": 0})
    clean, counts = validate_sets(df, kept_workout_ids=[1, 3])
    assert clean["id"].tolist() == [1]
    assert counts == Counter({WORKOUT_EXCLUDED: 1, INVALID_REPS: 1})
    clean, counts = validate_sets(df, kept_workout_ids=set())
    assert len(clean) == 0 and counts == Counter({WORKOUT_EXCLUDED: 3})


# ---------------------------------------------------------------------------- weigh-ins


def test_weigh_ins() -> None:
    df = pd.DataFrame(
        {
            "user_id": [1] * 8,
            "measured_at": pd.to_datetime(
                ["2026-03-10T07:00Z"] * 6 + ["2026-03-11T12:04Z", "2026-03-11T12:06Z"], utc=True
            ),
            "weight_kg": [80.0, 25.0, 350.0, 24.9, 350.1, np.nan, 80.0, 80.0],
        }
    )
    clean, counts = validate_weigh_ins(df, NOW)
    assert clean.index.tolist() == [0, 1, 2, 6]
    pd.testing.assert_frame_equal(clean, df.loc[[0, 1, 2, 6]])
    assert counts == Counter({INVALID_BODY_WEIGHT: 3, FUTURE_TIMESTAMP: 1})
    df.loc[0, "weight_kg"] = np.inf
    assert validate_weigh_ins(df, NOW)[1][INVALID_BODY_WEIGHT] == 4


# ---------------------------------------------------------------------------- users


def test_validate_users() -> None:
    users = pd.DataFrame(
        {
            "user_id": [1, 2, 3, 4, 5, 6],
            "timezone": ["Europe/Berlin", None, "america/new_york", "UTC+3", "Mars/Base", "IST"],
            "plan": ["pro"] * 6,
        }
    )
    clean, failures, counts = validate_users(users)
    assert clean["user_id"].tolist() == [1, 2, 3]
    assert clean["tz"].tolist() == ["Europe/Berlin", "UTC", "America/New_York"]
    pd.testing.assert_series_equal(clean["timezone"], users["timezone"].iloc[:3])
    assert clean["tz_status"].tolist() == ["ok", "null_fallback_utc", "case_normalized"]
    assert failures == {4: INVALID_TIMEZONE, 5: INVALID_TIMEZONE, 6: INVALID_TIMEZONE}
    assert counts == Counter({"invalid": 3, "null_fallback_utc": 1, "case_normalized": 1})
    assert "tz" not in users.columns  # the input frame is not modified


def test_reason_constants_are_the_design_codes_in_order() -> None:
    # Design §8.2, first reason wins in this order.  Every other test here uses the names.
    assert validation.WORKOUT_REASONS == (
        "unknown_status",
        "missing_timestamp",
        "non_finite_value",
        "negative_duration",
        "absurd_duration",
        "session_rpe_out_of_range",
        "started_after_finalized",
        "future_timestamp",
        "duplicate_workout",
    )
    assert validation.SET_REASONS == ("workout_excluded", "invalid_reps", "invalid_set_weight")
    assert validation.WEIGH_IN_REASONS == (
        "missing_timestamp",
        "invalid_body_weight",
        "future_timestamp",
    )
    assert (
        UNKNOWN_STATUS,
        MISSING_TIMESTAMP,
        NON_FINITE_VALUE,
        NEGATIVE_DURATION,
        ABSURD_DURATION,
        SESSION_RPE_OUT_OF_RANGE,
        STARTED_AFTER_FINALIZED,
        FUTURE_TIMESTAMP,
        DUPLICATE_WORKOUT,
        WORKOUT_EXCLUDED,
        INVALID_REPS,
        INVALID_SET_WEIGHT,
        INVALID_BODY_WEIGHT,
    ) == validation.WORKOUT_REASONS + validation.SET_REASONS + ("invalid_body_weight",)
