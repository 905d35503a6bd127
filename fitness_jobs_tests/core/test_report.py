"""Weekly report (design §6): hard sets, e1RM and records, monotony, volume, local days,
streak and lapse band at the end of the week, the target rule, rounding, text."""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pytest

from fitness_jobs.core.arrays import with_local_times
from fitness_jobs.core.calendar import date_of, day_number
from fitness_jobs.core.metrics import compute_behavior_metrics
from fitness_jobs.core.prediction import predict_transformations
from fitness_jobs.core.report import (
    JSON_DIGITS,
    REPORT_COLUMNS,
    REPORT_VERSION,
    build_weekly_reports,
    epley_e1rm,
    hard_set_band,
    report_markdown,
)
from fitness_jobs.core.report.common import num, nums
from fitness_jobs.core.report.training import hard_set_bands

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

    def user(
        self,
        uid: int,
        tz: str = "UTC",
        target: float | None = math.nan,
        first_session_at: pd.Timestamp | None = None,
        **metrics: Any,
    ) -> None:
        self.users.append(
            {
                "user_id": uid,
                "tz": tz,
                "weekly_session_target": target,
                "first_session_at": pd.NaT if first_session_at is None else first_session_at,
            }
        )
        row = {"user_id": uid, "ctl": 40.0, "tsb": -2.0, "acwr": 1.1, "lapse_risk": "on_track"}
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

    def sessions(self, uid: int, offsets: list[int] | range) -> None:
        for offset in offsets:
            self.workout(uid, offset)

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

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        users = pd.DataFrame(self.users)
        users["first_session_at"] = pd.to_datetime(users["first_session_at"], utc=True)
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
        workouts["started_at"] = pd.to_datetime(workouts["started_at"], utc=True)
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
        return users, workouts, sets

    def nightly_metrics(self) -> None:
        """Replace the hand-written metrics by §5's, computed at metrics_date W + 6."""
        users, workouts, sets = self.frames()
        users = users.assign(metrics_day=W + 6, cutoff=utc(7, 0), coach_requests_7d=0)
        self.metrics = compute_behavior_metrics(users, workouts, sets).to_dict("records")

    def build(
        self, predictions: pd.DataFrame | None = None, local_times: bool = False
    ) -> pd.DataFrame:
        users, workouts, sets = self.frames()
        if local_times:  # instants converted to local times beforehand, as the job does
            users, workouts = with_local_times(users, workouts)
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
    counts = (0.5, 4.5, 5, 9.5, 10, 20, 20.5)
    bands = ["low", "low", "moderate", "moderate", "recommended", "recommended", "high"]
    assert [hard_set_band(x) for x in counts] == bands
    assert hard_set_bands(np.array(counts)).tolist() == bands


def test_epley_and_rep_rules() -> None:
    e = epley_e1rm(np.array([100, 100, 100, 100, 100, 0, 60]), np.array([1, 2, 10, 11, 0, 5, 30]))
    assert e[0] == 100.0  # 1 rep: the weight itself, not 100·(1 + 1/30) = 103.33
    assert e[1] == pytest.approx(106.667, abs=1e-3)  # 100 kg × 2
    assert e[2] == pytest.approx(133.333, abs=1e-3)  # 100 kg × 10 (Epley's table value)
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
    # the nightly current_streak_weeks is not the report's streak (see the streak tests)
    d.user(1, acwr=1.6, current_streak_weeks=5, lapse_risk="on_track", ctl=55.5, tsb=-7.25)
    d.sessions(1, [1])
    d.user(2, acwr=1.5, lapse_risk="slipping")
    d.sessions(2, [-3])
    d.user(3, acwr=None)
    d.sessions(3, [-400])  # a session older than the frame's reach still counts as one
    out = d.build()
    assert out.loc[1, "acwr_flag"] == "spike"
    assert out.loc[1, "streak_weeks"] == 0
    assert out.loc[1, "lapse_risk"] == "on_track"
    assert out.loc[1, "ctl"] == 55.5 and out.loc[1, "tsb"] == -7.25
    assert out.loc[2, "acwr_flag"] is None  # 1.5 is not > 1.5
    assert out.loc[2, "lapse_risk"] == "slipping"
    assert out.loc[3, "acwr_flag"] is None and out.loc[3, "report"]["acwr"] is None
    assert out.loc[3, "lapse_risk"] == "on_track"


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
    d.user(1, target=3)
    d.sessions(1, [-14, -12, -10, -7, -5, -3])  # target met in W−2 and W−1 (no sets)
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
    assert report["report_version"] == 2 and row["report_version"] == 2
    assert REPORT_VERSION == 2
    assert report["streak_weeks"] == 3 and report["previous_streak_weeks"] == 2
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
    d.user(1, target=4, first_session_at=utc(-60), lapse_risk="lapsed", ctl=0.0, tsb=0.0, acwr=None)
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
    assert row["summary_text"] == (
        "You have not logged a session yet. Your target is 3 sessions a week, and one short "
        "session in the week ahead is a great way to start."
    )


def test_prediction_document_per_user_and_none_without_a_prediction() -> None:
    d = Data()
    d.user(1)
    d.user(2)
    days = list(range(W - 21, W + 7))
    wi = pd.DataFrame(
        {"user_id": 1, "local_day": days, "weight_kg": [80.0 - 0.05 * i for i in range(28)]}
    )
    profiles = pd.DataFrame(
        {"user_id": [1], "sex": ["male"], "birth_date": [None], "height_cm": [180.0]}
    )
    predictions = predict_transformations(wi, profiles, W)
    out = d.build(predictions=predictions)
    first, second = out.loc[1, "report"]["prediction"], out.loc[2, "report"]
    expected = predictions.iloc[0]
    assert list(first) == [c for c in predictions.columns if c != "user_id"]
    assert first["status"] == "ok" and first["weigh_in_count"] == 28
    assert type(first["weigh_in_count"]) is int
    assert first["flags"] == [str(f) for f in expected["flags"]]
    assert first["trend_weight_kg"] == round(float(expected["trend_weight_kg"]), 3)
    assert first["projected_4w_kg_low"] == round(float(expected["projected_4w_kg_low"]), 3)
    assert second["prediction"] is None and second["prediction_status"] is None
    assert out.loc[2, "prediction_status"] is None


def test_summary_below_target_does_not_boast_an_old_streak() -> None:
    d = Data()
    d.user(1, target=3, current_streak_weeks=4)
    d.workout(1, 0)
    d.workout(1, 3)
    text = d.build().loc[1, "summary_text"]
    assert text.startswith("You trained twice this week (target 3), one session short.")
    assert "streak" not in text


# --------------------------------------------------------------------------- streak (pinned 2026-12-01)


def test_streak_ends_with_the_reported_week() -> None:
    d = Data()
    # met T = 3 in W−3, W−2, W−1; twice in W → the streak ended
    d.user(1, target=3, current_streak_weeks=3)  # what §5's current-week rule says at W+6
    d.sessions(1, [-21, -20, -19, -14, -13, -12, -7, -6, -5, 0, 2])
    # met in W−4, missed W−3, met W−2, W−1 and W → 3
    d.user(2, target=3)
    d.sessions(2, [-28, -27, -26, -21, -14, -13, -12, -7, -6, -5, 0, 1, 2])
    # met in W−3 … W−1, nothing in W
    d.user(3, target=3)
    d.sessions(3, [-21, -20, -19, -14, -13, -12, -7, -6, -5])
    # met only W−1, once in W: a 1-week run is not called a streak
    d.user(4, target=3)
    d.sessions(4, [-7, -6, -5, 3])
    # T = 1 every week for 60 weeks: capped at W and the 52 weeks before it
    d.user(5, target=1)
    d.sessions(5, [-7 * k for k in range(60)])
    out = d.build()
    assert out["streak_weeks"].tolist() == [0, 3, 0, 0, 53]
    assert [r["previous_streak_weeks"] for r in out["report"]] == [3, 2, 3, 1, 52]
    assert out.loc[1, "summary_text"] == (
        "You trained twice this week (target 3), one session short, so your 3-week streak ended."
    )
    assert out.loc[2, "summary_text"].startswith(
        "You trained 3 times this week (target 3), a 3-week streak."
    )
    assert out.loc[3, "summary_text"].startswith(
        "No sessions were logged this week (target 3), so your 3-week streak ended. That's "
        "okay: rest weeks happen, and one short session in the week ahead is a great way "
        "back in."
    )
    assert out.loc[4, "summary_text"].startswith(
        "You trained once this week (target 3), 2 sessions short."
    )
    assert "streak" not in out.loc[4, "summary_text"]
    assert out.loc[5, "summary_text"].startswith(
        "You trained once this week (target 1), a 53-week streak."
    )
    assert "| Streak | 0 weeks |" in report_markdown(out.loc[1])


def test_streak_weeks_are_local_weeks() -> None:
    d = Data()
    d.user(1, tz="Asia/Kathmandu", target=1)  # UTC+05:45
    d.workout(1, -1, finalized=utc(-1, 18, 30))  # Monday W 00:15 local: week W
    d.workout(1, -8, finalized=utc(-8, 17, 15))  # Sunday W−1 − 7 23:00 local: week W−2
    d.user(2, tz="Asia/Kathmandu", target=1)
    d.workout(2, -1, finalized=utc(-1, 17, 15))  # Sunday W−1 23:00 local: week W−1
    out = d.build()
    assert out.loc[1, "streak_weeks"] == 1 and out.loc[1, "report"]["previous_streak_weeks"] == 0
    assert out.loc[2, "streak_weeks"] == 0 and out.loc[2, "report"]["previous_streak_weeks"] == 1


# --------------------------------------------------------------------------- lapse band (pinned)


def test_no_session_ever_has_no_lapse_band() -> None:
    d = Data()
    d.user(1, lapse_risk="lapsed")  # nothing at all
    d.user(2, target=1, lapse_risk="lapsed")
    d.workout(2, 2, status="abandoned")  # abandoned is not a session
    d.workout(2, 3, status="in_progress", finalized=pd.NaT)
    d.user(3, first_session_at=utc(-300), lapse_risk="lapsed")  # trained long before the frame
    # first session Monday W+7 00:30 local (Sunday 18:45 UTC): after the reported week
    d.user(4, tz="Asia/Kathmandu", first_session_at=utc(6, 18, 45), lapse_risk="lapsed")
    d.user(5, lapse_risk="at_risk")
    d.sessions(5, [-20])
    out = d.build()
    assert out["lapse_risk"].tolist() == [None, None, "lapsed", None, "at_risk"]
    assert [r["lapse_risk"] for r in out["report"]] == [None, None, "lapsed", None, "at_risk"]
    assert [r["has_logged_session"] for r in out["report"]] == [False, False, True, False, True]
    never = (
        "You have not logged a session yet. Your target is {} a week, and one short session "
        "in the week ahead is a great way to start."
    )
    assert out.loc[1, "summary_text"] == never.format("3 sessions")
    assert out.loc[2, "summary_text"] == never.format("1 session")
    assert out.loc[4, "summary_text"] == never.format("3 sessions")
    assert out.loc[3, "summary_text"].startswith("No sessions were logged this week (target 3).")
    assert "| Lapse risk | none (no session yet) |" in report_markdown(out.loc[1])
    assert "| Lapse risk | lapsed |" in report_markdown(out.loc[3])


# --------------------------------------------------------------------------- target rule


def test_session_target_is_the_nightly_weekly_target() -> None:
    raw = [None, 0, 2.5, math.nan, 4, -1]
    d = Data()
    for uid, target in enumerate(raw, start=1):
        d.user(uid, target=target)
        d.sessions(uid, [0, 1])
    out = d.build()
    assert out["session_target"].tolist() == [3, 3, 3, 3, 4, 3]
    assert [r["session_target"] for r in out["report"]] == [3, 3, 3, 3, 4, 3]
    assert out.loc[3, "summary_text"].startswith(
        "You trained twice this week (target 3), one session short."
    )
    d.nightly_metrics()
    nightly = pd.DataFrame(d.metrics)
    assert nightly["weekly_target"].tolist() == out["session_target"].tolist()


# --------------------------------------------------------------------------- body-weight sets (pinned)


def test_zero_kg_sets_are_neither_lifts_nor_records_nor_history() -> None:
    d = Data()
    d.user(1)
    d.prior.append({"user_id": 1, "exercise": "dip", "best_e1rm": 0.0})  # junk: not history
    old = d.workout(1, -5)
    d.add_sets(old, "pull-up", "back", 8, 0.0, n=3)
    d.add_sets(old, "dip", "triceps", 10, 0.0, n=3)
    now = d.workout(1, 1)
    d.add_sets(now, "pull-up", "back", 12, 0.0, n=2)
    d.add_sets(now, "pull-up", "back", 5, 10.0)  # first loaded set: 11.667, not a record
    d.add_sets(now, "push-up", "chest", 10, 0.0, n=3)  # body weight only: no lift at all
    d.add_sets(now, "dip", "triceps", 8, 5.0)
    report = d.build().loc[1, "report"]
    assert [(t["exercise"], t["e1rm_kg"]) for t in report["top_lifts"]] == [
        ("pull-up", pytest.approx(11.667, abs=1e-3)),
        ("dip", pytest.approx(6.333, abs=1e-3)),
    ]
    assert report["personal_records"] == []
    by_name = {t["exercise"]: t for t in report["top_lifts"]}
    assert by_name["pull-up"]["first_time"] and not by_name["pull-up"]["personal_record"]
    assert by_name["pull-up"]["previous_best_e1rm_kg"] is None
    # the prior 0.0 "best" is a junk row the SQL never produces; it still makes no record
    assert not by_name["dip"]["personal_record"]
    assert "New best" not in report["summary_text"]


# --------------------------------------------------------------------------- rounding


def _realistic_batch(seed: int, local_times: bool = False) -> pd.DataFrame:
    """40 users over 20 weeks: sessions, sets, prior bests, weigh-ins, nightly metrics."""
    rng = np.random.default_rng(seed)
    zones = ["UTC", "Asia/Kathmandu", "America/St_Johns", "Pacific/Chatham", "Europe/Berlin"]
    d = Data()
    weights: list[dict[str, Any]] = []
    for uid in range(1, 41):
        d.user(uid, tz=zones[uid % 5], target=[None, 2, 3, 4, 5][uid % 5])
        rate = rng.uniform(0.1, 0.9)
        for offset in range(-140, 7):
            if rng.random() > rate:
                continue
            wid = d.workout(
                uid,
                offset,
                status=str(rng.choice(["completed", "partial", "abandoned"], p=[0.8, 0.1, 0.1])),
                rpe=float(rng.integers(3, 10)),
                minutes=float(rng.uniform(20, 95)),
                finalized=utc(offset, int(rng.integers(0, 24)), int(rng.integers(0, 60))),
            )
            if offset >= -35:
                for _ in range(int(rng.integers(1, 6))):
                    d.add_sets(
                        wid,
                        str(rng.choice(["squat", "bench", "row", "press"])),
                        str(rng.choice(["legs", "chest", "back", "shoulders"])),
                        int(rng.integers(1, 13)),
                        float(np.round(rng.uniform(0, 140), 1)),
                        n=int(rng.integers(1, 5)),
                        secondary=str(rng.choice(["glutes", "triceps", "biceps"])),
                    )
        if uid % 3:
            trend = rng.uniform(55, 110)
            for day in range(W - 21, W + 7):
                if rng.random() < 0.8:
                    weights.append(
                        {
                            "user_id": uid,
                            "local_day": day,
                            "weight_kg": trend - 0.03 * (day - W) + rng.normal(0, 0.4),
                        }
                    )
        d.prior.append({"user_id": uid, "exercise": "squat", "best_e1rm": rng.uniform(60, 120)})
    d.nightly_metrics()
    ids = range(1, 41)
    profiles = pd.DataFrame(
        {
            "user_id": ids,
            "sex": ["male", "female", None, "male"] * 10,
            "birth_date": [dt.date(1975 + uid % 30, 6, 1) for uid in ids],
            "height_cm": [np.nan if uid % 7 == 0 else 150.0 + uid for uid in ids],
        }
    )
    return d.build(predict_transformations(pd.DataFrame(weights), profiles, W), local_times)


@pytest.mark.parametrize("seed", [1, 2])
def test_json_values_are_the_columns_rounded_as_documented(seed: int) -> None:
    out = _realistic_batch(seed)
    assert JSON_DIGITS == {  # the rounding the package docstring documents
        "completion_rate": 4,
        "acwr": 4,
        "monotony": 4,
        "ctl": 3,
        "tsb": 3,
        "trend_weight_kg": 3,
        "weight_change_kg_per_week": 3,
        "volume_load_kg": 2,
        "volume_change_pct_prev_week": 2,
        "volume_change_pct_4w_avg": 2,
        "srpe_load": 2,
    }
    integers = ["report_version", "sessions", "session_target", "streak_weeks"]
    numeric = [c for c in REPORT_COLUMNS if c not in ("user_id", "week_start", "timezone")]
    numeric = [c for c in numeric if pd.api.types.is_numeric_dtype(out[c])]
    assert sorted(numeric) == sorted(integers + list(JSON_DIGITS))  # every numeric column
    seen_values = dict.fromkeys(JSON_DIGITS, 0)
    for row in out.itertuples(index=False):
        report = row.report
        for col in integers:
            assert report[col] == getattr(row, col), (row.user_id, col)
        for col, digits in JSON_DIGITS.items():
            value, copy = getattr(row, col), report[col]
            if math.isnan(value):
                assert copy is None, (row.user_id, col)
                continue
            seen_values[col] += 1
            assert abs(copy - value) <= 0.5 * 10**-digits + 1e-12 * max(1.0, abs(value)), (
                row.user_id,
                col,
                value,
                copy,
            )
            assert copy == round(value, digits)
    assert all(count >= 5 for count in seen_values.values()), seen_values  # realistic coverage


@pytest.mark.parametrize("seed", [1, 2])
def test_reports_from_instants_converted_beforehand_are_the_same(seed: int) -> None:
    """The job converts each workout's instants to local times once (``with_local_times``)
    for the metrics and the report; the report from those equals the one converting
    itself, in every zone of the batch."""
    converted, itself = _realistic_batch(seed, local_times=True), _realistic_batch(seed)
    pd.testing.assert_frame_equal(converted, itself, check_exact=True)
    assert (itself["sessions"] > 0).sum() >= 10 and itself["timezone"].nunique() >= 3


def test_logged_session_from_a_converted_first_session_is_the_same() -> None:
    """Earliest sessions around the end of W (local midnight differs by zone), none at
    all, and users with a session in the frame: the day-number form agrees."""
    from fitness_jobs.core.report.adherence import has_logged_session, logged_by_day

    zones = np.array(["Pacific/Kiritimati", "Pacific/Pago_Pago", "Asia/Kathmandu", "UTC"] * 50)
    rng = np.random.default_rng(5)
    week_end = pd.Timestamp(date_of(W + 7), tz="UTC")
    first = pd.Series(week_end + pd.to_timedelta(rng.integers(-40, 40, zones.size), unit="h"))
    first[::7] = pd.NaT
    in_frame = (rng.random(zones.size) < 0.2).astype(int)
    users = pd.DataFrame({"user_id": np.arange(zones.size), "tz": zones, "first_session_at": first})
    converted, _ = with_local_times(
        users, pd.DataFrame(columns=["user_id", "started_at", "finalized_at"])
    )
    days = converted["first_session_local"].to_numpy(dtype="datetime64[D]").astype(np.int64)
    expected = has_logged_session(in_frame, first, zones, W)
    assert logged_by_day(in_frame, days, W).tolist() == expected.tolist()
    assert 0 < expected.sum() < zones.size and (~expected & first.notna()).any()


def test_report_modules_are_pure() -> None:
    import pkgutil
    from pathlib import Path

    import fitness_jobs.core.report as package
    from fitness_jobs.core import prediction, targets

    files = [Path(str(prediction.__file__)), Path(str(targets.__file__))]
    root = Path(str(package.__file__)).parent
    files += [root / f"{m.name}.py" for m in pkgutil.iter_modules([str(root)])]
    assert len(files) == 8
    for path in files:
        source = path.read_text()
        imports = [
            line.split()[1] for line in source.splitlines() if line.startswith(("import ", "from "))
        ]
        assert not [m for m in imports if m.split(".")[0] in ("dagster", "sqlalchemy")], path
        if path.parent == root:  # the split of the 764-line report.py
            assert len(source.splitlines()) <= 400, path


def test_a_summary_row_counts_in_the_volume_only() -> None:
    """A row standing for a whole workout's volume (``summary``: ``1 × volume``, no
    exercise) adds to the week's volume but is never a lift, a record's history or a hard
    set, even inside week W."""
    d = Data()
    d.user(1)
    d.add_sets(d.workout(1, 1), "bench press", "chest", 5, 100.0)  # 500 kg, e1RM 116.667
    summarised = d.workout(1, 2)
    users, workouts, sets = d.frames()
    whole = {"workout_id": summarised, "user_id": 1, "reps": 1, "weight_kg": 5000.0}
    sets = pd.concat(
        [
            sets.assign(summary=False),
            pd.DataFrame([{**whole, "is_warmup": False, "summary": True}]),
        ],
        ignore_index=True,
    )
    prior = pd.DataFrame(columns=["user_id", "exercise", "best_e1rm"])
    out = build_weekly_reports(
        users, W, workouts, sets, prior, pd.DataFrame(d.metrics), _no_predictions(users)
    ).set_index("user_id")
    report = out.loc[1, "report"]
    assert out.loc[1, "volume_load_kg"] == 5500.0
    assert [lift["exercise"] for lift in report["top_lifts"]] == ["bench press"]
    assert report["top_lifts"][0]["first_time"] is True
    assert [h["muscle_group"] for h in report["hard_sets"]] == ["chest"]


def _no_predictions(users: pd.DataFrame) -> pd.DataFrame:
    profiles = pd.DataFrame(
        {"user_id": users["user_id"], "sex": None, "birth_date": None, "height_cm": np.nan}
    )
    empty = pd.DataFrame({"user_id": [], "local_day": [], "weight_kg": []})
    return predict_transformations(empty, profiles, W)


def test_nums_rounds_a_column_exactly_as_num_rounds_each_value() -> None:
    """The column form gives Python's ``round`` of each value, not numpy's (which scales,
    rounds and divides, and so differs on halfway cases such as 2.675 or 1.0005)."""
    rng = np.random.default_rng(3)
    values = np.concatenate(
        [
            [2.675, 1.0005, 0.125, -0.0, 5e-324, 1e300, np.nan, np.inf, -np.inf, 0.5, 1.5],
            rng.normal(0, 1e3, 5_000),
            np.round(rng.uniform(0, 100, 5_000), 3) + 0.0005,  # halfway-ish at 3 digits
        ]
    )
    for digits in (2, 3, 4):
        expected = [num(v, digits) for v in values]
        assert nums(values, digits) == expected
    assert nums(np.array([np.nan, 1.23456]), 2) == [None, 1.23]
    assert [type(v) for v in nums(np.array([1.0, 2.0]))] == [float, float]
    assert str(nums(np.array([-0.0001]), 2)[0]) == str(num(-0.0001, 2)) == "-0.0"


@pytest.mark.parametrize("digits", [2, 3, 4, 6])
def test_nums_is_exact_next_to_halves_and_for_large_values(digits: int) -> None:
    """The column form takes numpy's rounding where it cannot differ from ``round`` and
    ``round`` itself elsewhere: every value next to a half (written as a decimal half,
    or one float step either side of it) and every value too large to scale exactly."""
    rng = np.random.default_rng(digits)
    halves = (rng.integers(-(10**7), 10**7, 20_000) + 0.5) / 10**digits
    large = rng.uniform(2.0**30, 2.0**40, 2_000) / 10**digits
    values = np.concatenate(
        [halves, np.nextafter(halves, np.inf), np.nextafter(halves, -np.inf), large, -large]
    )
    expected = [num(v, digits) for v in values]
    got = nums(values, digits)
    assert got == expected
    assert [math.copysign(1, v) for v in got] == [math.copysign(1, v) for v in expected]
    assert num(2.675, 2) == 2.67 and float(np.round(2.675, 2)) == 2.68  # why not numpy
