"""Weekly report (DESIGN §6): hard sets, e1RM and records, monotony, volume, local days, text."""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pytest

from fitness_jobs.core.calendar import day_number
from fitness_jobs.core.prediction import predict_transformations
from fitness_jobs.core.report import (
    REPORT_COLUMNS,
    REPORT_VERSION,
    build_weekly_reports,
    epley_e1rm,
    hard_set_band,
    report_markdown,
)

W_DATE = dt.date(2026, 11, 23)  # Monday
W = day_number(W_DATE)


def utc(day_offset: int, hour: int = 12, minute: int = 0) -> pd.Timestamp:
    d = W_DATE + dt.timedelta(days=day_offset)
    return pd.Timestamp(dt.datetime(d.year, d.month, d.day, hour, minute), tz="UTC")


@dataclass
class Data:
    users: list[dict[str, Any]] = field(default_factory=list)
    workouts: list[dict[str, Any]] = field(default_factory=list)
    sets: list[dict[str, Any]] = field(default_factory=list)
    prior: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)

    def user(self, uid: int, tz: str = "UTC", target: float = math.nan, **metrics: Any) -> None:
        self.users.append({"user_id": uid, "tz": tz, "weekly_session_target": target})
        row = {
            "user_id": uid,
            "ctl": 40.0,
            "tsb": -2.0,
            "acwr": 1.1,
            "current_streak_weeks": 0,
            "lapse_risk": "on_track",
        }
        row.update(metrics)
        self.metrics.append(row)

    def workout(
        self,
        uid: int,
        offset: int,
        status: str = "completed",
        rpe: float | None = None,
        minutes: float | None = None,
        finalized: pd.Timestamp | None = None,
    ) -> int:
        wid = len(self.workouts) + 1
        fin = finalized if finalized is not None else utc(offset)
        self.workouts.append(
            {
                "workout_id": wid,
                "user_id": uid,
                "status": status,
                "started_at": fin - pd.Timedelta(hours=1),
                "finalized_at": fin,
                "duration_seconds": None if minutes is None else minutes * 60,
                "session_rpe": rpe,
            }
        )
        return wid

    def add_sets(
        self,
        wid: int,
        exercise: str,
        muscle: str,
        reps: int,
        weight: float,
        n: int = 1,
        secondary: str | None = None,
        warmup: bool = False,
    ) -> None:
        uid = self.workouts[wid - 1]["user_id"]
        for _ in range(n):
            self.sets.append(
                {
                    "workout_id": wid,
                    "user_id": uid,
                    "exercise": exercise,
                    "muscle_group": muscle,
                    "secondary_muscle_group": secondary,
                    "reps": reps,
                    "weight_kg": weight,
                    "rpe": None,
                    "is_warmup": warmup,
                }
            )

    def build(self, predictions: pd.DataFrame | None = None) -> pd.DataFrame:
        users = pd.DataFrame(self.users)
        workouts = pd.DataFrame(
            self.workouts,
            columns=[
                "workout_id",
                "user_id",
                "status",
                "started_at",
                "finalized_at",
                "duration_seconds",
                "session_rpe",
            ],
        )
        workouts["finalized_at"] = pd.to_datetime(workouts["finalized_at"], utc=True)
        sets = pd.DataFrame(
            self.sets,
            columns=[
                "workout_id",
                "user_id",
                "exercise",
                "muscle_group",
                "secondary_muscle_group",
                "reps",
                "weight_kg",
                "rpe",
                "is_warmup",
            ],
        )
        prior = pd.DataFrame(self.prior, columns=["user_id", "exercise", "best_e1rm"])
        if predictions is None:
            profiles = pd.DataFrame(
                {"user_id": users["user_id"], "sex": None, "birth_date": None, "height_cm": np.nan}
            )
            empty = pd.DataFrame({"user_id": [], "local_day": [], "weight_kg": []})
            predictions = predict_transformations(empty, profiles, W)
        out = build_weekly_reports(
            users, W, workouts, sets, prior, pd.DataFrame(self.metrics), predictions
        )
        assert list(out.columns) == REPORT_COLUMNS
        assert len(out) == len(users)
        for report in out["report"]:
            json.dumps(report, allow_nan=False)
        return out.set_index("user_id", drop=False)


# --------------------------------------------------------------------------- unit rules


def test_hard_set_bands_boundaries() -> None:
    assert [hard_set_band(x) for x in (0.5, 4.5, 5, 9.5, 10, 20, 20.5)] == [
        "low",
        "low",
        "moderate",
        "moderate",
        "recommended",
        "recommended",
        "high",
    ]


def test_epley_and_rep_rules() -> None:
    e = epley_e1rm(np.array([100, 100, 100, 100, 100, 0, 60]), np.array([1, 2, 10, 11, 0, 5, 30]))
    assert e[0] == 100.0  # 1 rep: the weight itself, not 100·(1 + 1/30)
    assert e[1] == pytest.approx(100 * 32 / 30)
    assert e[2] == pytest.approx(100 * 40 / 30)
    assert np.isnan(e[3:]).all()  # > 10 reps, 0 reps, no weight


# --------------------------------------------------------------------------- hard sets


def test_hard_sets_primary_secondary_and_bands() -> None:
    d = Data()
    d.user(1)
    a = d.workout(1, 0)
    b = d.workout(1, 3)
    d.add_sets(a, "bench press", "chest", 8, 80, n=8, secondary="triceps")
    d.add_sets(a, "bench press", "chest", 10, 40, n=2, secondary="triceps", warmup=True)
    d.add_sets(a, "dips", "triceps", 10, 20, n=4, secondary="chest")
    d.add_sets(a, "overhead press", "shoulders", 8, 40, n=4)
    d.add_sets(a, "overhead press", "shoulders", 10, 20, n=1, warmup=True)
    d.add_sets(b, "face pull", "back", 15, 20, n=1, secondary="shoulders")
    d.add_sets(b, "row", "back", 10, 60, n=19, secondary="biceps")
    d.add_sets(b, "squat", "legs", 5, 100, n=20)
    d.add_sets(b, "lunge", "glutes", 10, 20, n=1, secondary="legs")
    # not counted: an abandoned workout this week, a session last week
    c = d.workout(1, 2, status="abandoned")
    d.add_sets(c, "bench press", "chest", 8, 80, n=5)
    e = d.workout(1, -3)
    d.add_sets(e, "bench press", "chest", 8, 80, n=5)

    report = d.build().loc[1, "report"]
    got = {h["muscle_group"]: (h["hard_sets"], h["band"]) for h in report["hard_sets"]}
    assert got == {
        "chest": (10.0, "recommended"),  # 8 + 4·0.5
        "triceps": (8.0, "moderate"),  # 4 + 8·0.5
        "shoulders": (4.5, "low"),  # 4 + 1·0.5 (warm-up ignored)
        "back": (20.0, "recommended"),  # 19 + 1
        "biceps": (9.5, "moderate"),  # 19·0.5
        "legs": (20.5, "high"),  # 20 + 0.5
        "glutes": (1.0, "low"),
    }
    order = [h["muscle_group"] for h in report["hard_sets"]]
    assert order[:3] == ["legs", "back", "chest"]  # most sets first


# --------------------------------------------------------------------------- lifts and records


def test_top_lifts_best_set_per_exercise_top_five() -> None:
    d = Data()
    d.user(1)
    a = d.workout(1, 1)
    d.add_sets(a, "squat", "legs", 5, 100)  # 116.67
    d.add_sets(a, "squat", "legs", 3, 110)  # 121.0 ← best
    d.add_sets(a, "squat", "legs", 12, 100)  # over 10 reps: ignored (would be 140)
    d.add_sets(a, "squat", "legs", 1, 130, warmup=True)  # warm-up: ignored
    d.add_sets(a, "deadlift", "back", 1, 150)  # 150 (1 rep = weight)
    d.add_sets(a, "bench press", "chest", 10, 75)  # 100.0
    d.add_sets(a, "row", "back", 8, 70)  # 88.67
    d.add_sets(a, "curl", "biceps", 10, 15)  # 20.0
    d.add_sets(a, "overhead press", "shoulders", 6, 50)  # 60.0
    report = d.build().loc[1, "report"]
    top = [(t["exercise"], t["e1rm_kg"], t["weight_kg"], t["reps"]) for t in report["top_lifts"]]
    assert top == [
        ("deadlift", 150.0, 150.0, 1),
        ("squat", 121.0, 110.0, 3),
        ("bench press", 100.0, 75.0, 10),
        ("row", pytest.approx(88.667, abs=1e-3), 70.0, 8),
        ("overhead press", 60.0, 50.0, 6),
    ]
    assert report["top_lifts"][1]["date"] == "2026-11-24"
    # no earlier history at all: first-time exercises, no records
    assert report["personal_records"] == []
    assert all(t["first_time"] and not t["personal_record"] for t in report["top_lifts"])
    assert "curl" in report["first_time_exercises"]


def test_personal_records_vs_all_earlier_weeks() -> None:
    d = Data()
    d.user(1)
    d.user(2)
    d.prior += [
        {"user_id": 1, "exercise": "squat", "best_e1rm": 120.0},
        {"user_id": 1, "exercise": "bench press", "best_e1rm": 95.0},
        {"user_id": 1, "exercise": "overhead press", "best_e1rm": 50.0},
        {"user_id": 1, "exercise": "row", "best_e1rm": 121.0},
        {"user_id": 2, "exercise": "deadlift", "best_e1rm": 300.0},  # someone else's
    ]
    old = d.workout(1, -10)
    d.add_sets(old, "bench press", "chest", 4, 80)  # 90.67 in the frame, below the prior 95
    d.add_sets(old, "overhead press", "shoulders", 1, 60)  # 60 in the frame beats the prior 50
    d.add_sets(old, "deadlift", "back", 15, 200, warmup=False)  # over 10 reps: no history
    abandoned = d.workout(1, -5, status="abandoned")
    d.add_sets(abandoned, "curl", "biceps", 5, 30)  # not a session: no history
    now = d.workout(1, 2)
    d.add_sets(now, "squat", "legs", 3, 110)  # 121.0 > 120 → record
    d.add_sets(now, "bench press", "chest", 1, 92)  # 92 < 95 → no record
    d.add_sets(now, "overhead press", "shoulders", 1, 58)  # 58 > 50 but < 60 → no record
    d.add_sets(now, "row", "back", 3, 110)  # 121.0 = 121.0 → not a record (strict)
    d.add_sets(now, "deadlift", "back", 1, 140)  # first time for user 1
    d.add_sets(now, "curl", "biceps", 5, 24)  # first time (abandoned history ignored)
    report = d.build().loc[1, "report"]
    prs = report["personal_records"]
    assert [(p["exercise"], p["e1rm_kg"], p["previous_best_e1rm_kg"]) for p in prs] == [
        ("squat", 121.0, 120.0)
    ]
    assert prs[0]["improvement_kg"] == pytest.approx(1.0)
    assert report["first_time_exercises"] == ["curl", "deadlift"]
    by_name = {t["exercise"]: t for t in report["top_lifts"]}
    assert by_name["bench press"]["previous_best_e1rm_kg"] == 95.0
    assert by_name["overhead press"]["previous_best_e1rm_kg"] == 60.0
    assert not by_name["row"]["personal_record"]
    assert "New best: squat e1RM 121.0 kg." in report["summary_text"]


# --------------------------------------------------------------------------- load


def test_monotony_needs_four_sessions_and_uses_population_sd() -> None:
    d = Data()
    d.user(1)  # 4 sessions
    d.user(2)  # 3 sessions (+ an abandoned one)
    for uid in (1, 2):
        d.workout(uid, 0, rpe=6, minutes=50)  # 300
        d.workout(uid, 2, rpe=8, minutes=50)  # 400
        d.workout(uid, 4, rpe=5, minutes=40)  # 200
    d.workout(1, 6, rpe=5, minutes=100)  # 500
    d.workout(2, 6, status="abandoned", rpe=5, minutes=100)
    out = d.build()
    # daily loads [300, 0, 400, 0, 200, 0, 500]: mean 200, population SD sqrt(260000/7)
    assert out.loc[1, "srpe_load"] == pytest.approx(1400.0)
    assert out.loc[1, "monotony"] == pytest.approx(math.sqrt(14 / 13), rel=1e-12)
    assert out.loc[1, "report"]["monotony"] == pytest.approx(1.0377, abs=1e-4)
    assert [x["srpe_load"] for x in out.loc[1, "report"]["daily_loads"]] == [
        300.0,
        0.0,
        400.0,
        0.0,
        200.0,
        0.0,
        500.0,
    ]
    assert out.loc[2, "sessions"] == 3
    assert math.isnan(out.loc[2, "monotony"])
    assert out.loc[2, "report"]["monotony"] is None
    assert out.loc[2, "completion_rate"] == pytest.approx(0.75)  # 3 of 4 incl. abandoned


def test_monotony_none_when_sd_zero() -> None:
    d = Data()
    d.user(1)
    for offset in range(7):
        d.workout(1, offset)  # 7 sessions, no RPE → every daily load is 0
    out = d.build()
    assert out.loc[1, "sessions"] == 7
    assert out.loc[1, "report"]["monotony"] is None


def test_metrics_fields_and_acwr_flag() -> None:
    d = Data()
    d.user(1, acwr=1.6, current_streak_weeks=5, lapse_risk="on_track", ctl=55.5, tsb=-7.25)
    d.user(2, acwr=1.5, lapse_risk="slipping")
    d.user(3, acwr=None)
    out = d.build()
    assert out.loc[1, "acwr_flag"] == "spike"
    assert out.loc[1, "streak_weeks"] == 5
    assert out.loc[1, "ctl"] == 55.5 and out.loc[1, "tsb"] == -7.25
    assert out.loc[2, "acwr_flag"] is None  # 1.5 is not > 1.5
    assert out.loc[2, "lapse_risk"] == "slipping"
    assert out.loc[3, "acwr_flag"] is None and out.loc[3, "report"]["acwr"] is None


# --------------------------------------------------------------------------- volume


def test_volume_changes_vs_previous_week_and_four_week_average() -> None:
    d = Data()
    d.user(1)
    d.user(2)
    for offset, kg in [(1, 100), (-6, 80), (-20, 120), (-27, 40), (-30, 1000)]:
        wid = d.workout(1, offset)
        d.add_sets(wid, "squat", "legs", 10, kg)  # 10 reps → 1000, 800, 1200, 400, (10000)
        d.add_sets(wid, "squat", "legs", 10, 20, n=3, warmup=True)  # warm-ups never count
    wid = d.workout(2, 3)
    d.add_sets(wid, "squat", "legs", 10, 100)
    out = d.build()
    # weeks W−4 … W−1 = 400, 1200, 0, 800 (W−30 is outside the 4 weeks)
    assert out.loc[1, "volume_load_kg"] == 1000.0
    assert out.loc[1, "volume_change_pct_prev_week"] == pytest.approx(25.0)
    assert out.loc[1, "volume_change_pct_4w_avg"] == pytest.approx(100 * (1000 - 600) / 600)
    weeks = [w["volume_load_kg"] for w in out.loc[1, "report"]["volume_by_week"]]
    assert weeks == [400.0, 1200.0, 0.0, 800.0, 1000.0]
    # no earlier volume: no percentage
    assert math.isnan(out.loc[2, "volume_change_pct_prev_week"])
    assert math.isnan(out.loc[2, "volume_change_pct_4w_avg"])
    assert out.loc[2, "report"]["volume_change_pct_prev_week"] is None
    assert "Volume rose 25% to 1,000 kg" in out.loc[1, "summary_text"]


# --------------------------------------------------------------------------- local days


def test_local_day_in_kathmandu() -> None:
    d = Data()
    d.user(1, tz="Asia/Kathmandu")  # UTC+05:45
    # Sunday W+6 23:30 local = Sunday 17:45 UTC: this week
    d.workout(1, 6, rpe=5, minutes=60, finalized=utc(6, 17, 45))
    # Monday W+7 00:30 local = Sunday 18:45 UTC: next week, ignored
    d.workout(1, 6, rpe=5, minutes=60, finalized=utc(6, 18, 45))
    # Monday W 00:15 local = Sunday W−1 18:30 UTC: this week although its UTC day is not
    d.workout(1, -1, rpe=5, minutes=60, finalized=utc(-1, 18, 30))
    # Sunday W−1 23:00 local = 17:15 UTC: last week
    d.workout(1, -1, rpe=5, minutes=60, finalized=utc(-1, 17, 15))
    d.workout(1, 3, status="completed", finalized=pd.NaT)  # not finalized: ignored
    out = d.build()
    assert out.loc[1, "sessions"] == 2
    assert out.loc[1, "timezone"] == "Asia/Kathmandu"
    daily = out.loc[1, "report"]["daily_loads"]
    assert [x["sessions"] for x in daily] == [1, 0, 0, 0, 0, 0, 1]
    assert daily[6]["date"] == "2026-11-29"
    assert out.loc[1, "srpe_load"] == 600.0


# --------------------------------------------------------------------------- text and output


def _predictions_ok(uid: int) -> pd.DataFrame:
    vector = [90.0, 90.6, 89.7, 89.9, 90.3, 89.4, 89.6, 89.8, 89.1, 89.5, 89.0, 89.3, 88.7, 89.2]
    wi = pd.DataFrame({"user_id": uid, "local_day": range(W - 7, W + 7), "weight_kg": vector})
    profiles = pd.DataFrame(
        {"user_id": [uid], "sex": [None], "birth_date": [None], "height_cm": [np.nan]}
    )
    return predict_transformations(wi, profiles, W)


def test_summary_mentions_key_numbers_and_report_is_complete() -> None:
    d = Data()
    d.user(1, target=3, current_streak_weeks=3)
    d.prior.append({"user_id": 1, "exercise": "squat", "best_e1rm": 120.0})
    for offset in (0, 2, 4, 5):
        wid = d.workout(1, offset, rpe=7, minutes=60)
        d.add_sets(wid, "bench press", "chest", 10, 60, n=3)  # 12 chest sets in the week
        d.add_sets(wid, "curl", "biceps", 10, 10, n=2)  # 8 biceps sets: moderate, not named
    wid = d.workout(1, 5)
    d.add_sets(wid, "squat", "legs", 3, 110, n=3)  # 121 > 120: record; legs 3 sets: low
    out = d.build(predictions=_predictions_ok(1))
    row = out.loc[1]
    text = row["summary_text"]
    assert row["sessions"] == 5 and row["session_target"] == 3
    assert text.startswith("You trained 5 times this week (target 3), a 3-week streak.")
    assert "Volume load was 8,990 kg" in text  # 4·(3·600 + 2·100) + 3·330, no earlier volume
    assert "chest hit the recommended 12 hard sets" in text
    assert "legs got just 3 hard sets" in text
    assert "New best: squat e1RM 121.0 kg." in text
    assert "Trend weight 88.9 kg, −0.7 kg/week; at this pace about 86.2 kg in 4 weeks." in text
    report = row["report"]
    assert report["report_version"] == REPORT_VERSION == row["report_version"]
    assert report["week_start"] == "2026-11-23" and row["week_start"] == W_DATE
    assert report["prediction"]["status"] == "ok"
    assert report["prediction"]["projected_4w_kg"] == pytest.approx(86.196, abs=1e-3)
    assert row["trend_weight_kg"] == pytest.approx(88.9, abs=1e-9)
    assert row["weight_change_kg_per_week"] == pytest.approx(-0.7)
    for col in REPORT_COLUMNS:
        if col not in ("report", "summary_text"):
            assert col in report, col
    md = report_markdown(row)
    assert md.startswith("# Weekly report, week of 2026-11-23 (UTC)")
    assert "| chest | 12 | recommended |" in md
    assert "| squat | 121.0 kg | 110 kg × 3 | 2026-11-28 | PR |" in md
    for value in report.values():
        assert not isinstance(value, np.generic)
    json.dumps(report, allow_nan=False)


def test_zero_session_week_and_insufficient_prediction_are_kind() -> None:
    d = Data()
    d.user(1, target=4, lapse_risk="at_risk", ctl=0.0, tsb=0.0, acwr=None)
    d.workout(1, 1, status="abandoned")
    wi = pd.DataFrame({"user_id": [1, 1], "local_day": [W, W + 1], "weight_kg": [80.0, 79.8]})
    profiles = pd.DataFrame(
        {"user_id": [1], "sex": ["female"], "birth_date": [None], "height_cm": [170.0]}
    )
    out = d.build(predictions=predict_transformations(wi, profiles, W))
    row = out.loc[1]
    assert row["sessions"] == 0 and row["completion_rate"] == 0.0
    assert row["prediction_status"] == "insufficient_data"
    assert math.isnan(row["trend_weight_kg"])
    assert row["report"]["trend_weight_kg"] is None
    text = row["summary_text"]
    assert text.startswith("No sessions were logged this week (target 4).")
    assert "Weigh in on at least 8 days" in text
    assert "Volume" not in text
    assert row["report"]["prediction"]["flags"][0] == "too_few_weigh_in_days"


def test_user_without_workouts_or_metrics_still_gets_a_row() -> None:
    d = Data()
    d.user(1)
    d.metrics.clear()
    out = d.build()
    row = out.loc[1]
    assert row["sessions"] == 0 and row["session_target"] == 3
    assert math.isnan(row["completion_rate"])
    assert row["volume_load_kg"] == 0.0
    assert math.isnan(row["ctl"]) and row["streak_weeks"] == 0 and row["lapse_risk"] is None
    assert row["report"]["completion_rate"] is None
    assert "No sessions were logged this week (target 3)." in row["summary_text"]


def test_summary_below_target_does_not_boast_an_old_streak() -> None:
    d = Data()
    d.user(1, target=3, current_streak_weeks=4)
    d.workout(1, 0)
    d.workout(1, 3)
    text = d.build().loc[1, "summary_text"]
    assert text.startswith("You trained twice this week (target 3), one session short.")
    assert "streak" not in text
