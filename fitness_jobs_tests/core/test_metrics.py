"""Behaviour metrics (design §5) against hand-computed expectations.

Unless a test says otherwise the metrics date is Wednesday 2026-03-11 (REF), so with
``ago`` = days before it: the current ISO week is ago 0…2 (Mon 9 – Wed 11) and complete
week k is ago 7k−4 … 7k+2 (week 1 = ago 3…9 = Sun 8 … Mon 2).
"""

from __future__ import annotations

import datetime as dt
import math
import statistics

import numpy as np
import pandas as pd
import pytest

from fitness_jobs.core import row_sessions
from fitness_jobs.core.arrays import grouped_quantiles, run_lengths, with_local_times
from fitness_jobs.core.calendar import day_number
from fitness_jobs.core.columns import SetColumns, WorkoutColumns
from fitness_jobs.core.metrics import (
    HISTORY_DAYS,
    METRIC_COLUMNS,
    METRICS_VERSION,
    OUTPUT_COLUMNS,
    SETS_HISTORY_DAYS,
    compute_behavior_metrics,
)
from fitness_jobs_tests.core.builders import REF, Scenario, local_instant, utc

# ---------------------------------------------------------------------------- shape


def test_constants() -> None:
    assert METRICS_VERSION == 1
    assert METRIC_COLUMNS == [
        "sessions_7d", "sessions_28d", "sessions_30d", "completed_28d", "partial_28d",
        "abandoned_28d", "completion_rate_28d", "weekly_target", "adherence_4w",
        "current_streak_weeks", "longest_streak_weeks", "days_since_last_session",
        "gap_median_days", "gap_p90_days", "lapse_risk", "preferred_hour_local",
        "timing_consistency", "preferred_weekday", "weekly_sessions_cv_8w", "volume_load_7d",
        "volume_load_prev_7d", "volume_change_pct", "srpe_load_7d", "minutes_7d", "ctl", "atl",
        "tsb", "acwr", "coach_requests_7d",
    ]  # fmt: skip
    # 52 complete weeks + the current week reach back at most 6 + 52·7 = 370 days.
    assert HISTORY_DAYS >= 6 + 52 * 7 + 1
    assert HISTORY_DAYS >= 180
    assert SETS_HISTORY_DAYS == 14


def test_user_without_workouts_gets_empty_metrics_and_dtypes() -> None:
    s = Scenario()
    s.user(1, coach_requests_7d=5)
    users, workouts, sets = s.frames()
    out = compute_behavior_metrics(users, workouts.iloc[0:0], sets.iloc[0:0])
    assert list(out.columns) == OUTPUT_COLUMNS
    r = out.iloc[0]
    assert r["user_id"] == 1
    assert r["metrics_date"] == REF and isinstance(r["metrics_date"], dt.date)
    assert r["timezone"] == "UTC"
    for col in ["sessions_7d", "sessions_28d", "sessions_30d", "completed_28d", "partial_28d",
                "abandoned_28d", "current_streak_weeks", "longest_streak_weeks"]:  # fmt: skip
        assert r[col] == 0, col
    assert r["weekly_target"] == 3
    assert r["adherence_4w"] == 0.0
    assert r["lapse_risk"] == "lapsed"
    assert r["days_since_last_session"] is pd.NA
    assert r["preferred_weekday"] is pd.NA
    for col in ["completion_rate_28d", "gap_median_days", "gap_p90_days", "preferred_hour_local",
                "timing_consistency", "weekly_sessions_cv_8w", "volume_change_pct", "acwr"]:  # fmt: skip
        assert math.isnan(r[col]), col
    for col in ["volume_load_7d", "volume_load_prev_7d", "srpe_load_7d", "minutes_7d", "ctl",
                "atl", "tsb"]:  # fmt: skip
        assert r[col] == 0.0, col
    assert r["coach_requests_7d"] == 5
    dtypes = out.dtypes
    for col in ["sessions_7d", "weekly_target", "current_streak_weeks", "coach_requests_7d"]:
        assert dtypes[col] == np.int64, col
    assert dtypes["days_since_last_session"] == "Int64"
    assert dtypes["preferred_weekday"] == "Int64"
    assert dtypes["acwr"] == np.float64


def test_empty_user_frame() -> None:
    s = Scenario()
    s.user(1)
    users, workouts, sets = s.frames()
    out = compute_behavior_metrics(users.iloc[0:0], workouts, sets)
    assert len(out) == 0
    assert list(out.columns) == OUTPUT_COLUMNS


def test_users_returned_in_given_order_and_foreign_workouts_ignored() -> None:
    s = Scenario()
    for uid in (10, 20, 30):
        s.user(uid)
    s.sessions(20, [0, 1])
    s.sessions(30, [0])
    users, workouts, sets = s.frames(order=[30, 10, 20])
    stray = workouts.iloc[[0]].assign(user_id=999, workout_id=12345)  # user not in the batch
    out = compute_behavior_metrics(users, pd.concat([workouts, stray]), sets)
    assert out["user_id"].tolist() == [30, 10, 20]
    assert out["sessions_7d"].tolist() == [1, 0, 2]


def test_users_index_is_ignored() -> None:
    s = Scenario()
    s.user(1)
    s.user(2)
    s.sessions(2, [0])
    users, workouts, sets = s.frames()
    users.index = [7, 3]
    out = compute_behavior_metrics(users, workouts, sets)
    assert out["sessions_7d"].tolist() == [0, 1]


def test_two_rows_of_one_user_with_one_cutoff_are_a_programming_error() -> None:
    """A user may have a row per snapshot (a range of days), not two for the same one."""
    s = Scenario()
    s.user(1)
    users, workouts, sets = s.frames()
    with pytest.raises(ValueError, match="one cutoff"):
        compute_behavior_metrics(pd.concat([users, users]), workouts, sets)


def test_naive_utc_timestamps_give_the_same_result() -> None:
    s = Scenario()
    s.user(1, "Asia/Kathmandu")
    s.sessions(1, [0, 1, 5, 40], at="00:10", rpe=6, sets=((5, 80.0),))
    users, workouts, sets = s.frames()
    naive = workouts.assign(
        started_at=workouts["started_at"].dt.tz_localize(None),
        finalized_at=workouts["finalized_at"].dt.tz_localize(None),
    )
    pd.testing.assert_frame_equal(
        compute_behavior_metrics(users, naive, sets),
        compute_behavior_metrics(users, workouts, sets),
    )


# ---------------------------------------------------------------------------- windows


def test_session_windows_are_local_and_inclusive() -> None:
    s = Scenario()
    s.user(1)
    s.sessions(1, [0, 6, 7, 27, 28, 29, 30, 31])
    r = s.one(1)
    assert (r["sessions_7d"], r["sessions_28d"], r["sessions_30d"]) == (2, 4, 6)
    assert r["days_since_last_session"] == 0


def test_statuses_partial_abandoned_in_progress() -> None:
    s = Scenario()
    s.user(1)
    s.workout(1, 1, status="completed")
    s.workout(1, 2, status="partial")
    s.workout(1, 3, status="abandoned")
    s.workout(1, 28, status="abandoned")  # outside the 28-day window
    s.workout(1, 0, status="in_progress")  # not finalized
    s.workout(1, 0, status="in_progress", finalized="2026-03-11T10:00Z")  # ignored anyway
    s.workout(1, 0, status="abandoned", finalized=pd.NaT, start="10:00")  # never finalized
    r = s.one(1)
    assert (r["completed_28d"], r["partial_28d"], r["abandoned_28d"]) == (1, 1, 1)
    assert r["completion_rate_28d"] == pytest.approx(1 / 3)
    assert r["sessions_7d"] == 2  # completed + partial
    assert r["days_since_last_session"] == 1  # in-progress/abandoned are not sessions


def test_completion_rate_only_abandoned_is_zero() -> None:
    s = Scenario()
    s.user(1)
    s.workout(1, 2, status="abandoned")
    r = s.one(1)
    assert r["completion_rate_28d"] == 0.0
    assert r["sessions_28d"] == 0


def test_cutoff_edges() -> None:
    s = Scenario()
    s.user(1, cutoff="2026-03-11T12:00:00Z")
    s.workout(1, finalized="2026-03-11T11:59:59Z", sets=((10, 10.0),))
    s.workout(1, finalized="2026-03-11T12:00:00Z", sets=((10, 20.0),))
    s.workout(1, finalized="2026-03-11T12:00:01Z", sets=((10, 40.0),))
    s.workout(1, status="abandoned", finalized="2026-03-11T11:00:00Z")
    s.workout(1, status="abandoned", finalized="2026-03-11T12:00:01Z")
    r = s.one(1)
    assert r["sessions_7d"] == 2
    assert r["completed_28d"] == 2
    assert r["abandoned_28d"] == 1
    assert r["volume_load_7d"] == pytest.approx(300.0)  # the set after the cutoff is ignored


def test_local_midnight_belongs_to_the_new_day() -> None:
    s = Scenario()
    s.user(1, "Europe/Berlin")  # UTC+1 in early March
    s.workout(1, finalized=local_instant(dt.date(2026, 3, 5), "00:00", "Europe/Berlin"))
    s.workout(1, finalized=local_instant(dt.date(2026, 3, 4), "23:59:59", "Europe/Berlin"))
    r = s.one(1)
    # Mar 5 = ago 6 (first day of the 7-day window); Mar 4 = ago 7.
    assert (r["sessions_7d"], r["sessions_28d"]) == (1, 2)
    assert r["days_since_last_session"] == 6


def test_end_of_metrics_day_is_inside_window() -> None:
    s = Scenario()
    s.user(1, "Asia/Kathmandu")  # default cutoff: local 23:59:59.999999 on REF
    s.workout(1, 0, "23:59:59")
    s.workout(1, finalized=local_instant(REF + dt.timedelta(days=1), "00:00", "Asia/Kathmandu"))
    r = s.one(1)
    assert r["sessions_7d"] == 1
    assert r["days_since_last_session"] == 0


# ---------------------------------------------------------------------------- weeks


def _streak_scenario(current_met: bool) -> Scenario:
    s = Scenario()
    s.user(1, target=2)
    current = [0, 1] if current_met else [0]
    # w1 = ago 3 (Sun) & 9 (Mon), w2, w3 met; w4 one session; w5, w6 met.
    s.sessions(1, [*current, 3, 9, 10, 16, 17, 23, 24, 31, 37, 38, 44])
    return s


def test_streak_current_week_met() -> None:
    r = _streak_scenario(True).one(1)
    assert r["weekly_target"] == 2
    assert r["current_streak_weeks"] == 4
    assert r["longest_streak_weeks"] == 4
    assert r["adherence_4w"] == pytest.approx((1 + 1 + 1 + 0.5) / 4)
    counts = [2, 2, 2, 1, 2, 2, 0, 0]  # weeks 1…8
    assert r["weekly_sessions_cv_8w"] == pytest.approx(
        statistics.stdev(counts) / statistics.mean(counts)
    )


def test_streak_current_week_not_met() -> None:
    r = _streak_scenario(False).one(1)
    assert r["current_streak_weeks"] == 3
    assert r["longest_streak_weeks"] == 3
    assert r["adherence_4w"] == pytest.approx(0.875)


def test_streak_across_week_boundary() -> None:
    s = Scenario()
    s.user(1, target=1)
    s.sessions(1, [3, 2])  # Sunday of week 1, Monday of the current week
    s.user(2, target=1)
    s.sessions(2, [2, 1])  # both in the current week
    s.user(3, target=1)
    s.sessions(3, [9, 10])  # Monday of week 1, Sunday of week 2
    s.user(4, target=1)
    s.sessions(4, [10, 11])  # week 2 only: the streak is broken at week 1
    out = s.run()
    assert out.loc[1, "current_streak_weeks"] == 2
    assert out.loc[1, "longest_streak_weeks"] == 2
    assert out.loc[2, "current_streak_weeks"] == 1
    assert out.loc[2, "longest_streak_weeks"] == 1
    assert out.loc[3, "current_streak_weeks"] == 2
    assert out.loc[4, "current_streak_weeks"] == 0
    assert out.loc[4, "longest_streak_weeks"] == 1


def test_longest_streak_in_the_past() -> None:
    s = Scenario()
    s.user(1, target=1)
    s.sessions(1, [7 * k for k in range(10, 16)] + [7])  # weeks 10…15 and week 1
    r = s.one(1)
    assert r["current_streak_weeks"] == 1
    assert r["longest_streak_weeks"] == 6


def test_longest_streak_limited_to_52_complete_weeks() -> None:
    s = Scenario()
    s.user(1, target=1)
    s.sessions(1, [7 * k for k in range(48, 54)])  # weeks 48…53; week 53 is out of range
    s.user(2, target=1)
    s.sessions(2, [0] + [7 * k for k in range(1, 54)])  # every week, current included
    out = s.run()
    assert out.loc[1, "longest_streak_weeks"] == 5
    assert out.loc[1, "current_streak_weeks"] == 0
    assert out.loc[2, "current_streak_weeks"] == 53  # 52 complete weeks + the current one
    assert out.loc[2, "longest_streak_weeks"] == 53


def test_weekly_target_default_and_adherence_cap() -> None:
    s = Scenario()
    s.user(1)  # NULL target → 3
    s.sessions(1, [3, 4, 5, 6, 7, 10])  # week 1: 5 sessions (capped at 1), week 2: 1
    s.user(2, target=0)  # nonsensical target → 3 as well
    s.user(3, target=5)
    s.sessions(3, [3, 4, 5, 6, 7, 10])
    out = s.run()
    assert out.loc[1, "weekly_target"] == 3
    assert out.loc[1, "adherence_4w"] == pytest.approx((1 + 1 / 3) / 4)
    assert out.loc[2, "weekly_target"] == 3
    assert out.loc[3, "weekly_target"] == 5
    assert out.loc[3, "adherence_4w"] == pytest.approx((1 + 1 / 5) / 4)
    assert out.loc[3, "current_streak_weeks"] == 1


@pytest.mark.parametrize(
    ("raw", "target"),
    [(None, 3), (0, 3), (2.5, 3), (math.nan, 3), (-1, 3), (math.inf, 3), (1, 1), (4, 4)],
)
def test_weekly_target_is_the_shared_rule(raw: float | None, target: int) -> None:
    """Whole number ≥ 1 as given, else 3 (the report's ``session_target`` uses the same
    ``core.targets.weekly_targets``); 2.5 is not whole → 3, not floor(2.5) = 2."""
    s = Scenario()
    s.user(1, target=raw)
    s.sessions(1, [3, 4, 10, 11, 12, 13])  # week 1: 2 sessions, week 2: 4
    r = s.one(1)
    assert r["weekly_target"] == target
    assert r["adherence_4w"] == pytest.approx((min(1, 2 / target) + min(1, 4 / target)) / 4)
    assert r["current_streak_weeks"] == (2 if target <= 2 else 0)


def test_cv_nan_without_sessions_in_the_last_8_weeks() -> None:
    s = Scenario()
    s.user(1)
    s.sessions(1, [0, 1, 7 * 9])  # current week and week 9 only
    s.user(2)
    s.sessions(2, [3, 10, 17, 24, 31, 38, 45, 52])  # one per week: SD 0
    out = s.run()
    assert math.isnan(out.loc[1, "weekly_sessions_cv_8w"])
    assert out.loc[2, "weekly_sessions_cv_8w"] == 0.0


# ---------------------------------------------------------------------------- gaps / lapse


def test_gaps_over_distinct_days() -> None:
    s = Scenario()
    s.user(1)
    s.sessions(1, [0, 1, 3, 3, 6, 10, 15])  # distinct gaps 1, 2, 3, 4, 5
    r = s.one(1)
    assert r["gap_median_days"] == 3.0
    assert r["gap_p90_days"] == pytest.approx(4.6)  # linear: 4 + 0.6·(5 − 4)
    assert r["lapse_risk"] == "on_track"


def test_gaps_window_is_90_days() -> None:
    s = Scenario()
    s.user(1)
    s.sessions(1, [0, 89, 90, 120])
    s.user(2)
    s.sessions(2, [5, 5, 95])  # one distinct day in the window
    out = s.run()
    assert out.loc[1, "gap_median_days"] == 89.0
    assert out.loc[1, "gap_p90_days"] == 89.0
    assert math.isnan(out.loc[2, "gap_median_days"])
    assert math.isnan(out.loc[2, "gap_p90_days"])


@pytest.mark.parametrize(
    ("target", "agos", "days_since", "band"),
    [
        (None, [], None, "lapsed"),
        (None, [30], 30, "lapsed"),
        (None, [29], 29, "at_risk"),
        (None, [14], 14, "at_risk"),
        # Fewer than 5 gaps: ratio = days_since / (7/T).
        (None, [8], 8, "at_risk"),  # 8 / (7/3) = 3.43 > 3
        (None, [7], 7, "slipping"),  # 3.0 is not > 3
        (None, [4], 4, "slipping"),  # 1.71
        (None, [3, 10], 3, "on_track"),  # 1.29
        (7, [2], 2, "slipping"),  # 2 / 1
        (1, [10], 10, "on_track"),  # 10 / 7 = 1.43
        (None, [4, 5, 6, 7, 8], 4, "slipping"),  # 4 gaps: still the fallback (1.71)
        # 5+ gaps: ratio = days_since / median gap.
        (None, [4, 5, 6, 7, 8, 9], 4, "at_risk"),  # 4 / 1 > 3
        (None, [2, 4, 6, 8, 10, 12], 2, "on_track"),  # 2 / 2 = 1
        (None, [3, 5, 7, 9, 11, 13], 3, "slipping"),  # 3 / 2 = 1.5
    ],
)
def test_lapse_bands(
    target: float | None, agos: list[int], days_since: int | None, band: str
) -> None:
    s = Scenario()
    s.user(1, target=target)
    s.sessions(1, agos)
    r = s.one(1)
    if days_since is None:
        assert r["days_since_last_session"] is pd.NA
    else:
        assert r["days_since_last_session"] == days_since
    assert r["lapse_risk"] == band


def test_days_since_uses_sessions_older_than_the_window() -> None:
    s = Scenario()
    s.user(1)
    s.sessions(1, [200])
    r = s.one(1)
    assert r["days_since_last_session"] == 200
    assert r["lapse_risk"] == "lapsed"


# ---------------------------------------------------------------------------- timing


def test_circular_mean_across_midnight() -> None:
    s = Scenario()
    s.user(1)
    s.workout(1, 1, "23:50", start="23:00")
    s.workout(1, 0, "02:00", start="01:00")
    r = s.one(1)
    hour = r["preferred_hour_local"]
    assert 0.0 <= hour < 24.0
    assert min(hour, 24.0 - hour) < 1e-6
    assert r["timing_consistency"] == pytest.approx(math.cos(math.pi / 12))  # 0.9659


def test_circular_mean_simple_cases() -> None:
    s = Scenario()
    s.user(1)
    s.workout(1, 3, "19:30", start="18:30")
    s.user(2)
    s.sessions(2, [1, 2], at="11:00", start="10:00")
    s.sessions(2, [3, 4], at="15:00", start="14:00")
    s.workout(2, 90, "21:00", start="20:00")  # outside the 90-day window
    s.workout(2, 1, "21:00", start="20:00", status="abandoned")  # not a session
    s.user(3)
    s.workout(3, 1, "01:00", start="00:00")
    s.workout(3, 2, "13:00", start="12:00")  # opposite: no mean direction
    s.user(4)
    s.workout(4, 1, "08:30", start="07:30:59")  # seconds are ignored (hour + minute/60)
    s.user(5)
    s.workout(5, 1, started=pd.NaT)  # no start time: a session, but no clock hour
    out = s.run()
    assert out.loc[1, "preferred_hour_local"] == pytest.approx(18.5)
    assert out.loc[1, "timing_consistency"] == pytest.approx(1.0)
    assert out.loc[2, "preferred_hour_local"] == pytest.approx(12.0)
    assert out.loc[2, "timing_consistency"] == pytest.approx(math.cos(math.pi / 6))
    assert math.isnan(out.loc[3, "preferred_hour_local"])
    assert out.loc[3, "timing_consistency"] == pytest.approx(0.0, abs=1e-9)
    assert out.loc[4, "preferred_hour_local"] == pytest.approx(7.5, abs=1e-12)
    assert out.loc[5, "sessions_7d"] == 1
    assert math.isnan(out.loc[5, "preferred_hour_local"])
    assert math.isnan(out.loc[5, "timing_consistency"])


@pytest.mark.parametrize(
    ("agos", "expected"),
    [
        ([2, 9, 5, 12], 0),  # Mon ×2, Fri ×2: the latest tied day is Mon (ago 2)
        ([8, 15, 6, 13], 3),  # Tue ×2, Thu ×2: the latest tied day is Thu (ago 6)
        ([4, 4, 4, 3, 10], 6),  # Sat has 3 sessions but 1 day; Sun has 2 days
        ([3, 93, 100], 6),  # the Mondays are outside the 90-day window
        ([0], 2),  # Wednesday
        ([89], 4),  # 2025-12-12, the first day of the window, is a Friday
    ],
)
def test_preferred_weekday(agos: list[int], expected: int) -> None:
    s = Scenario()
    s.user(1)
    s.sessions(1, agos)
    assert s.one(1)["preferred_weekday"] == expected


# ---------------------------------------------------------------------------- volume / load


def test_volume_load_windows_and_warmups() -> None:
    s = Scenario()
    s.user(1)
    s.workout(1, 0, sets=((10, 100.0), (5, 100.0), (10, 50.0, True)))  # 1500 (warm-up out)
    s.workout(1, 6, sets=((8, 50.0),))  # 400
    s.workout(1, 7, sets=((10, 100.0),))  # previous week: 1000
    s.workout(1, 13, status="partial", sets=((5, 20.0),))  # 100
    s.workout(1, 14, sets=((10, 10.0),))  # outside both windows
    s.workout(1, 1, status="abandoned", sets=((10, 100.0),))  # not a session
    s.user(2)
    s.workout(2, 2, sets=((3, 60.0),))
    out = s.run()
    assert out.loc[1, "volume_load_7d"] == pytest.approx(1900.0)
    assert out.loc[1, "volume_load_prev_7d"] == pytest.approx(1100.0)
    assert out.loc[1, "volume_change_pct"] == pytest.approx(100 * 800 / 1100)
    assert out.loc[2, "volume_load_7d"] == pytest.approx(180.0)
    assert out.loc[2, "volume_load_prev_7d"] == 0.0
    assert math.isnan(out.loc[2, "volume_change_pct"])


def test_srpe_and_minutes_7d() -> None:
    s = Scenario()
    s.user(1)
    s.workout(1, 0, rpe=7, minutes=60)  # 420
    s.workout(1, 3, rpe=None, minutes=30)  # no RPE: load 0, 30 minutes
    s.workout(1, 6, rpe=8, minutes=None)  # no duration: 0 and 0
    s.workout(1, 7, rpe=10, minutes=100)  # outside the 7-day window
    s.workout(1, 2, rpe=9, minutes=45, status="abandoned")  # not a session
    r = s.one(1)
    assert r["srpe_load_7d"] == pytest.approx(420.0)
    assert r["minutes_7d"] == pytest.approx(90.0)


def test_pmc_published_vector() -> None:
    s = Scenario()
    s.user(1)
    s.sessions(1, range(42), rpe=5, minutes=20)  # load 100 every day for 42 days
    r = s.one(1)
    assert r["ctl"] == pytest.approx(63.654, abs=0.01)
    assert r["atl"] == pytest.approx(99.846, abs=0.01)
    # TSB is CTL − ATL of the day before (day 41).
    ctl41 = 100 * (1 - (41 / 42) ** 41)
    atl41 = 100 * (1 - (6 / 7) ** 41)
    assert r["tsb"] == pytest.approx(ctl41 - atl41, abs=1e-9)
    assert r["srpe_load_7d"] == pytest.approx(700.0)


def test_load_series_is_180_days() -> None:
    s = Scenario()
    s.user(1)
    s.workout(1, 179, rpe=10, minutes=60)  # first day of the series
    s.user(2)
    s.workout(2, 180, rpe=10, minutes=60)  # just before it
    out = s.run()
    assert out.loc[1, "ctl"] == pytest.approx(600 / 42 * (41 / 42) ** 179)
    assert out.loc[2, "ctl"] == 0.0


WILLIAMS = [420, 0, 420, 0, 420, 0, 0] * 3 + [600, 0, 600, 0, 600, 0, 0]


def _williams(s: Scenario, uid: int) -> None:
    for i, load in enumerate(WILLIAMS):  # i = 27 is the metrics day
        if load:
            s.workout(uid, 27 - i, rpe=load / 60, minutes=60)


def test_acwr_williams_vector() -> None:
    s = Scenario()
    s.user(1)
    _williams(s, 1)
    s.workout(1, 28, rpe=None, minutes=45)  # a load-0 session 28 days earlier
    s.user(2)
    _williams(s, 2)  # first session only 27 days before
    s.user(3, first_session_at=local_instant(REF - dt.timedelta(days=28), "08:00", "UTC"))
    _williams(s, 3)
    s.user(4, first_session_at=local_instant(REF - dt.timedelta(days=27), "08:00", "UTC"))
    _williams(s, 4)
    s.user(5, first_session_at="2025-01-01T00:00Z")
    s.sessions(5, [40, 0], rpe=None)  # chronic load 0
    out = s.run()
    assert out.loc[1, "acwr"] == pytest.approx(1.017, abs=0.001)
    assert math.isnan(out.loc[2, "acwr"])
    assert out.loc[3, "acwr"] == pytest.approx(1.017, abs=0.001)
    assert math.isnan(out.loc[4, "acwr"])
    assert math.isnan(out.loc[5, "acwr"])
    assert out.loc[5, "ctl"] == 0.0


def test_acwr_history_rule_uses_local_day_of_first_session() -> None:
    s = Scenario()
    # 2026-02-11 11:00 UTC is 2026-02-12 01:00 in Kiritimati: 27 local days before REF.
    s.user(1, "Pacific/Kiritimati", first_session_at="2026-02-11T11:00Z")
    _williams(s, 1)
    s.user(2, "UTC", first_session_at="2026-02-11T11:00Z")  # 28 days in UTC
    _williams(s, 2)
    out = s.run()
    assert math.isnan(out.loc[1, "acwr"])
    assert out.loc[2, "acwr"] == pytest.approx(1.017, abs=0.001)


def test_passthrough_columns() -> None:
    s = Scenario()
    s.user(1, "Europe/Berlin", coach_requests_7d=17, target=4)
    r = s.run().loc[1]
    assert r["coach_requests_7d"] == 17
    assert r["weekly_target"] == 4
    assert r["timezone"] == "Europe/Berlin"


# ---------------------------------------------------------------------------- time zones


def test_same_instant_lands_on_different_local_days() -> None:
    instant = utc("2026-03-10T10:30:00Z")
    expected = {
        # tz: (local date, local clock hours)
        "Pacific/Kiritimati": (dt.date(2026, 3, 11), 0.5),  # +14 → Mar 11 00:30
        "Pacific/Pago_Pago": (dt.date(2026, 3, 9), 23.5),  # −11 → Mar 9 23:30
        "Asia/Kathmandu": (dt.date(2026, 3, 10), 16.25),  # +5:45 → Mar 10 16:15
        "America/St_Johns": (dt.date(2026, 3, 10), 8.0),  # −2:30 (DST since Mar 8) → 08:00
        "UTC": (dt.date(2026, 3, 10), 10.5),
    }
    s = Scenario()
    for uid, zone in enumerate(expected, start=1):
        s.user(uid, zone)
        s.workout(uid, finalized=instant, started=instant, minutes=0)
    out = s.run()
    for uid, (zone, (date, hour)) in enumerate(expected.items(), start=1):
        assert out.loc[uid, "days_since_last_session"] == (REF - date).days, zone
        assert out.loc[uid, "preferred_weekday"] == date.weekday(), zone
        assert out.loc[uid, "preferred_hour_local"] == pytest.approx(hour), zone
        # Kiritimati's session is on the metrics day, in the current week.
        assert out.loc[uid, "current_streak_weeks"] == 0


def test_st_johns_standard_time_offset() -> None:
    s = Scenario()
    s.user(1, "America/St_Johns")
    # −3:30 before the DST change: 2026-03-01 03:15 UTC is Sat 2026-02-28 23:45 local.
    s.workout(1, finalized="2026-03-01T03:15Z")
    r = s.one(1)
    assert r["days_since_last_session"] == 11
    assert r["preferred_weekday"] == 5


def test_nightly_partition_semantics_across_zones() -> None:
    partition = dt.date(2026, 3, 10)  # as_of = 2026-03-11 00:00 UTC
    zones = {
        "Pacific/Kiritimati": dt.date(2026, 3, 11),
        "Pacific/Pago_Pago": dt.date(2026, 3, 10),
        "Asia/Kathmandu": dt.date(2026, 3, 11),
        "America/St_Johns": dt.date(2026, 3, 10),
        "Europe/Berlin": dt.date(2026, 3, 11),
        "UTC": dt.date(2026, 3, 11),
    }
    s = Scenario()
    for uid, zone in enumerate(zones, start=1):
        assert s.user_for_partition(uid, zone, partition) == zones[zone]
        s.workout(uid, finalized="2026-03-10T23:59:59Z")
        s.workout(uid, finalized="2026-03-11T00:00:01Z")  # after as_of: ignored
    out = s.run()
    for uid, zone in enumerate(zones, start=1):
        assert out.loc[uid, "metrics_date"] == zones[zone]
        assert out.loc[uid, "sessions_7d"] == 1, zone
        # 23:59:59 UTC is the same local date as as_of everywhere except in UTC itself.
        assert out.loc[uid, "days_since_last_session"] == (1 if zone == "UTC" else 0), zone


@pytest.mark.parametrize(
    ("zone", "metrics_date", "clock_week", "clock_next_monday", "clock_prev_sunday"),
    [
        # Berlin springs forward on Sun 2026-03-29 (a 23-hour day).
        ("Europe/Berlin", dt.date(2026, 4, 1), "00:30", "00:30", "23:59"),
        # New York falls back on Sun 2026-11-01 (a 25-hour day).
        ("America/New_York", dt.date(2026, 11, 4), "23:30", "00:15", "23:30"),
    ],
)
def test_dst_week_has_seven_local_days(
    zone: str,
    metrics_date: dt.date,
    clock_week: str,
    clock_next_monday: str,
    clock_prev_sunday: str,
) -> None:
    s = Scenario(metrics_date=metrics_date)  # a Wednesday; week 1 = ago 3…9
    s.user(1, zone, target=7)
    s.sessions(1, range(3, 10), at=clock_week)  # one session on each local day of week 1
    s.workout(1, 2, clock_next_monday)  # Monday of the current week
    s.workout(1, 10, clock_prev_sunday)  # Sunday of week 2
    r = s.one(1)
    assert r["adherence_4w"] == pytest.approx((1 + 1 / 7) / 4)  # week 1 has exactly 7
    assert r["current_streak_weeks"] == 1
    assert r["longest_streak_weeks"] == 1
    assert r["sessions_7d"] == 5  # Thu…Sun of week 1 + Monday
    assert r["sessions_28d"] == 9
    assert r["days_since_last_session"] == 2
    assert r["preferred_weekday"] == 0  # Mon ×2 (latest tied: Monday of this week)


# ---------------------------------------------------------------------------- batch


def _mixed_users() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """30 users in zones from UTC−11 to UTC+14 (half-hour and DST ones), on different
    metrics days, with random workouts of every status over 200 days."""
    rng = np.random.default_rng(7)
    zones = ["UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago", "Asia/Kathmandu",
             "America/St_Johns", "Europe/Berlin", "America/New_York"]  # fmt: skip
    s = Scenario()
    for uid in range(1, 31):
        md = REF - dt.timedelta(days=int(rng.integers(0, 10)))
        s.user(uid, zones[uid % len(zones)], metrics_date=md, target=[None, 2, 4][uid % 3])
        for ago in rng.integers(0, 200, size=int(rng.integers(0, 40))):
            s.workout(
                uid,
                int(ago),
                f"{int(rng.integers(0, 24)):02d}:{int(rng.integers(0, 60)):02d}",
                status=str(rng.choice(["completed", "partial", "abandoned", "in_progress"])),
                rpe=int(rng.integers(1, 11)),
                minutes=float(rng.integers(10, 90)),
                sets=((int(rng.integers(1, 12)), float(rng.integers(0, 120))),),
            )
    return s.frames()


def test_batch_equals_one_user_at_a_time() -> None:
    """Users with different zones, metrics days and cutoffs do not leak into each other."""
    users, workouts, sets = _mixed_users()
    batch = compute_behavior_metrics(users, workouts, sets)
    singles = pd.concat(
        [compute_behavior_metrics(users.iloc[[i]], workouts, sets) for i in range(len(users))],
        ignore_index=True,
    )
    pd.testing.assert_frame_equal(batch, singles)
    assert (batch["sessions_28d"] > 0).any()


def test_supplied_local_times_give_the_same_metrics_without_converting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A range run converts each instant once (``with_local_times``) for all its days:
    the metrics must be those of converting in the call, and no conversion happens."""
    users, workouts, sets = _mixed_users()
    expected = compute_behavior_metrics(users, workouts, sets)
    local_users, local_workouts = with_local_times(users, workouts)

    def no_conversion(*_args: object) -> None:
        raise AssertionError("converted again although local times were supplied")

    monkeypatch.setattr(row_sessions, "local_wall_times", no_conversion)
    got = compute_behavior_metrics(local_users, local_workouts, sets)
    pd.testing.assert_frame_equal(got, expected)
    assert (got["preferred_hour_local"].notna()).any()


def _with_older_workouts(workouts: pd.DataFrame) -> pd.DataFrame:
    """The workouts, and a copy of every other one 300 days earlier (new ids): some of
    them older than the nightly read's 374 days."""
    older = workouts.iloc[::2].copy()
    older["workout_id"] += 100_000
    for column in ("started_at", "finalized_at"):
        older[column] = older[column] - pd.Timedelta(days=300)
    return pd.concat([workouts, older], ignore_index=True)


HISTORY = pd.Timedelta(days=374)


def test_converted_columns_of_a_block_give_each_subset_its_own_metrics() -> None:
    """A range converts a block's workouts and sets once and hands every day all of
    them: the metrics of some users, with ``history`` leaving out older workouts, are
    exactly those of a call given only those users' workouts finalised within it."""
    users, workouts, sets = _mixed_users()
    workouts = _with_older_workouts(workouts)
    some = users.iloc[::3].reset_index(drop=True)
    # The first of them keeps only workouts older than the history: it sees none.
    lone = some["user_id"].iloc[0]
    recent = workouts["finalized_at"] > some["cutoff"].iloc[0] - pd.Timedelta(days=380)
    workouts = workouts[(workouts["user_id"] != lone) | ~recent]
    assert (workouts["user_id"] == lone).any()
    history = HISTORY
    start = workouts["user_id"].map(some.set_index("user_id")["cutoff"]) - history
    mine = workouts["user_id"].isin(some["user_id"]) & (workouts["finalized_at"] > start)
    expected = compute_behavior_metrics(
        some, workouts[mine], sets[sets["workout_id"].isin(workouts.loc[mine, "workout_id"])]
    )
    got = compute_behavior_metrics(
        some,
        WorkoutColumns.of(workouts),
        SetColumns.of(sets),
        history=history.to_timedelta64().astype("timedelta64[us]"),
    )
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    # The window matters: without it, the older workouts are that user's latest.
    assert pd.isna(got["days_since_last_session"].iloc[0])
    unbounded = compute_behavior_metrics(some, workouts, sets)
    assert unbounded["days_since_last_session"].iloc[0] >= 380


@pytest.mark.parametrize("one_day_twice", [False, True])
def test_rows_of_many_days_are_each_day_computed_alone(one_day_twice: bool) -> None:
    """A range hands one call a row per (user, day), with every workout of the block,
    later ones too: each row is, value for value, the row of that day computed alone from
    the workouts its own read would give (finalised in ``(cutoff − history, cutoff]``),
    whatever the zone (half-hour, UTC+14, DST), on the days a DST change repeats a date.
    Two rows of a user on one metrics day (a zone stepping back a whole day) are found by
    search instead of the (user, day) table, with the same values."""
    users, workouts, sets = _mixed_users()
    workouts = _with_older_workouts(workouts)
    history = HISTORY
    rows, alone = [], []
    shifts = [(days_back, 0) for days_back in range(0, 40, 3)]
    if one_day_twice:
        shifts.append((0, 5))  # the same metrics day, a cutoff five hours earlier
    for days_back, hours_back in shifts:
        day = users.assign(
            cutoff=users["cutoff"] - pd.Timedelta(days=days_back, hours=hours_back),
            metrics_day=users["metrics_day"] - days_back,
        )
        rows.append(day)
        for i in range(len(day)):
            one = day.iloc[[i]]
            cut = one["cutoff"].iloc[0]
            read = (
                (workouts["user_id"] == one["user_id"].iloc[0])
                & (workouts["finalized_at"] > cut - history)
                & (workouts["finalized_at"] <= cut)
            )
            alone.append(
                compute_behavior_metrics(
                    one,
                    workouts[read],
                    sets[sets["workout_id"].isin(workouts.loc[read, "workout_id"])],
                )
            )
    got = compute_behavior_metrics(
        pd.concat(rows, ignore_index=True),
        WorkoutColumns.of(workouts),
        SetColumns.of(sets),
        history=history.to_timedelta64().astype("timedelta64[us]"),
    )
    pd.testing.assert_frame_equal(got, pd.concat(alone, ignore_index=True), check_exact=True)
    assert (got["sessions_7d"] > 0).any() and got["ctl"].gt(0).any()
    assert got["volume_load_7d"].gt(0).any() and got["preferred_hour_local"].notna().any()
    with pytest.raises(ValueError, match="history shorter"):
        compute_behavior_metrics(users, workouts, sets, history=np.timedelta64(30, "D"))


def test_with_local_times_uses_each_users_zone() -> None:
    users = pd.DataFrame(
        {
            "user_id": [1, 2, 3],
            "tz": ["Europe/Berlin", "Asia/Kathmandu", None],
            "first_session_at": [utc("2026-01-10 23:30"), pd.NaT, utc("2026-01-01 00:00")],
        }
    )
    workouts = pd.DataFrame(
        {
            "user_id": [1, 2, 9, 3],
            "finalized_at": [
                utc("2026-07-01 22:30"),  # CEST, UTC+2
                utc("2026-07-01 18:20"),  # UTC+5:45
                utc("2026-07-01 00:00"),  # no such user
                utc("2026-07-01 00:00"),  # no zone
            ],
            "started_at": [utc("2026-07-01 21:30"), pd.NaT, pd.NaT, pd.NaT],
        }
    )
    local_users, local_workouts = with_local_times(users, workouts)
    days = local_workouts["finalized_day"].tolist()
    assert days[:2] == [day_number(dt.date(2026, 7, 2))] * 2  # 00:30 and 00:05 local
    assert days[2:] == [np.iinfo(np.int64).min] * 2  # no such user; no zone
    minutes = local_workouts["started_minute"].tolist()
    assert minutes[0] == 23 * 60 + 30  # 23:30 CEST
    assert all(math.isnan(m) for m in minutes[1:])
    first = local_users["first_session_local"]
    assert first.iloc[0] == pd.Timestamp("2026-01-11 00:30")  # CET, UTC+1
    assert first.iloc[1:].isna().all()


@pytest.mark.parametrize(
    ("kind", "high", "size"),
    [(float, 30, 60), (np.int64, 30, 60), (np.int64, 30, 40), (np.int64, 2, 40)],
)
def test_grouped_quantiles_match_numpy(kind: type, high: int, size: int) -> None:
    """Floats, and small non-negative integers (the gaps in days): sorted as one key, or
    counted per (group, value) when there are few bins per value."""
    rng = np.random.default_rng(3)
    group = rng.integers(0, 6, size=size)
    values = rng.integers(0, high, size=size).astype(kind)
    qs = (0.0, 0.5, 0.9, 1.0)
    for q, got in zip(qs, grouped_quantiles(group, values, 8, qs), strict=True):
        for g in range(8):
            vals = values[group == g]
            if vals.size:
                assert got[g] == np.percentile(vals.astype(float), q * 100)
            else:
                assert math.isnan(got[g])


@pytest.mark.parametrize("shape", [(1, 1), (5, 53), (40, 7), (3, 0)])
def test_run_lengths_count_the_run_of_true_ending_at_each_column(
    shape: tuple[int, int],
) -> None:
    flags = np.random.default_rng(5).random(shape) < 0.7
    expected = np.zeros(shape, dtype=np.int64)
    for r in range(shape[0]):
        for c in range(shape[1]):
            expected[r, c] = (expected[r, c - 1] + 1 if c else 1) if flags[r, c] else 0
    got = run_lengths(flags)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, expected)
