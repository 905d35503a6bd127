"""The weekly report's pinned readings (design §6, 2026-12-01) end to end, on SQLite and
PostgreSQL: streak ending with W, no lapse band without a session, one target rule,
body-weight sets and records, τ outside the model's domain, report_version 2 and
regeneration, and the JSON report agreeing with the row's numeric columns."""

from __future__ import annotations

import datetime as dt
import json
import math
import zoneinfo
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from fitness_jobs.pipelines.weekly import run_weekly
from fitness_jobs_tests.factories import ts, user, weigh_in, workout, workout_set, write

W = dt.date(2026, 11, 23)  # reported week Mon 23 – Sun 29 Nov; reports on Monday 30 Nov
NOW = ts("2026-12-01 09:00")  # every zone's week is over

NEVER_TRAINED = (
    "You have not logged a session yet. Your target is 3 sessions a week, and one short "
    "session in the week ahead is a great way to start."
)


def _at(day_offset: int, clock: str = "18:00", zone: str = "UTC") -> dt.datetime:
    """UTC instant of local ``W + day_offset`` at ``clock`` in ``zone``."""
    day = W + dt.timedelta(days=day_offset)
    naive = dt.datetime.fromisoformat(f"{day.isoformat()} {clock}")
    return naive.replace(tzinfo=zoneinfo.ZoneInfo(zone)).astimezone(dt.UTC)


_ids = iter(range(10_000, 1_000_000))


def _sessions(user_id: int, offsets: list[int], **overrides: Any) -> list[dict[str, Any]]:
    return [workout(user_id, _at(o), id=next(_ids), **overrides) for o in offsets]


def _rows(engine: sa.Engine) -> dict[int, dict[str, Any]]:
    """Every weekly report row of W by user id, with ``report`` parsed."""
    with engine.connect() as conn:
        result = conn.execute(
            sa.text("SELECT * FROM weekly_reports WHERE week_start = :w ORDER BY user_id"),
            {"w": W},
        )
        rows = [dict(r._mapping) for r in result]
    for row in rows:
        if isinstance(row["report"], str):
            row["report"] = json.loads(row["report"])
    return {int(r["user_id"]): r for r in rows}


def _predictions(engine: sa.Engine) -> dict[int, dict[str, Any]]:
    with engine.connect() as conn:
        result = conn.execute(sa.text("SELECT * FROM transformation_predictions"))
        rows = [dict(r._mapping) for r in result]
    for row in rows:
        if isinstance(row["flags"], str):
            row["flags"] = json.loads(row["flags"])
    return {int(r["user_id"]): r for r in rows}


def _catch_up(engine: sa.Engine, **kw: Any) -> None:
    run = run_weekly(engine, mode="catch_up", week=W, now=NOW, **kw)
    assert run.failed == {}


# --------------------------------------------------------------------------- streak


def test_streak_is_counted_to_the_end_of_the_reported_week(db_engine: sa.Engine) -> None:
    write(
        db_engine,
        users=[user(1, weekly_session_target=3), user(2, weekly_session_target=3)],
        workouts=[
            # user 1: met T = 3 in W−3, W−2 and W−1, only twice in W
            *_sessions(1, [-21, -20, -19, -14, -13, -12, -7, -6, -5, 0, 2]),
            # user 2: met in W−2, W−1 and W (W−3 missed)
            *_sessions(2, [-21, -14, -13, -12, -7, -6, -5, 0, 1, 2]),
        ],
    )
    _catch_up(db_engine)
    rows = _rows(db_engine)
    assert rows[1]["streak_weeks"] == 0
    assert rows[1]["report"]["streak_weeks"] == 0
    assert rows[1]["report"]["previous_streak_weeks"] == 3
    assert rows[1]["summary_text"] == (
        "You trained twice this week (target 3), one session short, so your 3-week streak ended."
    )
    assert rows[2]["streak_weeks"] == 3
    assert rows[2]["summary_text"] == "You trained 3 times this week (target 3), a 3-week streak."


# --------------------------------------------------------------------------- lapse band


def test_no_session_ever_has_no_lapse_band(db_engine: sa.Engine) -> None:
    write(
        db_engine,
        users=[user(1), user(2), user(3)],
        workouts=[
            workout(2, _at(3), id=next(_ids), status="abandoned"),  # not a session
            workout(3, ts("2024-06-01 10:00"), id=next(_ids)),  # long before the history read
        ],
    )
    _catch_up(db_engine)
    rows = _rows(db_engine)
    for uid in (1, 2):
        assert rows[uid]["lapse_risk"] is None
        assert rows[uid]["report"]["lapse_risk"] is None
        assert rows[uid]["report"]["has_logged_session"] is False
        assert rows[uid]["summary_text"] == NEVER_TRAINED
    assert rows[3]["lapse_risk"] == "lapsed"  # trained once, 2½ years ago
    assert rows[3]["report"]["has_logged_session"] is True
    assert rows[3]["summary_text"] == (
        "No sessions were logged this week (target 3). That's okay: rest weeks happen, and "
        "one short session in the week ahead is a great way back in."
    )


# --------------------------------------------------------------------------- target rule


def test_session_target_rule(db_engine: sa.Engine) -> None:
    targets: dict[int, Any] = {1: 0, 2: None, 3: 4, 4: 1}
    if db_engine.dialect.name == "sqlite":
        targets[5] = 2.5  # SQLite keeps what the app wrote; a smallint cannot hold it
    write(
        db_engine,
        users=[user(uid, weekly_session_target=t) for uid, t in targets.items()],
        workouts=[s for uid in targets for s in _sessions(uid, [0, 1, 2])],
    )
    _catch_up(db_engine)
    rows = _rows(db_engine)
    expected = {1: 3, 2: 3, 3: 4, 4: 1, 5: 3}
    for uid in targets:
        assert rows[uid]["session_target"] == expected[uid], uid
        assert rows[uid]["report"]["session_target"] == expected[uid], uid
    assert rows[1]["summary_text"] == "You trained 3 times this week (target 3), target met."
    assert rows[3]["summary_text"] == (
        "You trained 3 times this week (target 4), one session short."
    )


# --------------------------------------------------------------------------- lifts and records


def test_body_weight_sets_and_equal_e1rm_are_not_records(db_engine: sa.Engine) -> None:
    old, recent, now = next(_ids), next(_ids), next(_ids)
    write(
        db_engine,
        users=[user(1)],
        workouts=[
            workout(1, _at(-56), id=old),  # 8 weeks back: read as prior bests (SQL)
            workout(1, _at(-10), id=recent),  # inside the report's own 4-week frame
            workout(1, _at(2), id=now),
        ],
        sets=[
            workout_set(old, exercise="pull-up", muscle_group="back", reps=8, weight_kg=0.0),
            workout_set(old, exercise="push-up", muscle_group="chest", reps=10, weight_kg=0.0),
            workout_set(old, exercise="bench press", muscle_group="chest", reps=1, weight_kg=102),
            workout_set(old, exercise="squat", muscle_group="quads", reps=5, weight_kg=100),
            workout_set(recent, exercise="pull-up", muscle_group="back", reps=6, weight_kg=0.0),
            # this week
            workout_set(now, exercise="pull-up", muscle_group="back", reps=12, weight_kg=0.0),
            workout_set(now, exercise="pull-up", muscle_group="back", reps=6, weight_kg=10.0),
            workout_set(now, exercise="push-up", muscle_group="chest", reps=10, weight_kg=0.0),
            # 90 kg × 4 = 90·(1 + 4/30) = 102 kg, equal to the 102 kg single: no record
            workout_set(now, exercise="bench press", muscle_group="chest", reps=4, weight_kg=90),
            # 105 × 5 = 122.5 > 100 × 5 = 116.67: a record
            workout_set(now, exercise="squat", muscle_group="quads", reps=5, weight_kg=105),
        ],
    )
    _catch_up(db_engine)
    report = _rows(db_engine)[1]["report"]
    top = {t["exercise"]: t for t in report["top_lifts"]}
    assert sorted(top) == ["bench press", "pull-up", "squat"]  # no push-up: 0 kg only
    assert top["pull-up"]["e1rm_kg"] == 12.0  # 10·(1 + 6/30)
    assert top["pull-up"]["first_time"] is True
    assert top["pull-up"]["personal_record"] is False
    assert top["pull-up"]["previous_best_e1rm_kg"] is None
    assert top["bench press"]["e1rm_kg"] == 102.0
    assert top["bench press"]["previous_best_e1rm_kg"] == 102.0
    assert top["bench press"]["personal_record"] is False
    assert [
        (p["exercise"], p["e1rm_kg"], p["previous_best_e1rm_kg"])
        for p in report["personal_records"]
    ] == [("squat", 122.5, 116.667)]
    assert report["first_time_exercises"] == ["pull-up"]


# --------------------------------------------------------------------------- prediction


def _weigh_ins(user_id: int, start: float, per_day: float) -> list[dict[str, Any]]:
    return [weigh_in(user_id, _at(d, "07:00"), start + per_day * (d + 7)) for d in range(-7, 7)]


def test_tau_outside_the_model_domain_and_unknown_bmi_floor(db_engine: sa.Engine) -> None:
    write(
        db_engine,
        users=[
            # 20-year-old man at 45 kg and 180 cm: BMI 13.9, Jackson %BF < 0 → τ = 400
            user(1, sex="male", birth_date=dt.date(2006, 1, 1), height_cm=180.0),
            # no height: the BMI floor cannot be computed
            user(2, sex="female", birth_date=dt.date(1990, 1, 1)),
        ],
        weigh_ins=[*_weigh_ins(1, 45.25, -0.02), *_weigh_ins(2, 43.0, -0.02)],
    )
    _catch_up(db_engine)
    pred = _predictions(db_engine)
    assert pred[1]["status"] == "ok"
    assert pred[1]["tau_days"] == 400.0
    assert "tau_default" in pred[1]["flags"]
    assert "bmi_floor_unknown" not in pred[1]["flags"]
    assert pred[2]["status"] == "ok"
    assert pred[2]["flags"] == ["bmi_floor_unknown", "tau_default"]
    # trend 42.74 kg, −0.02 kg/day, τ = 400: not clamped at any floor
    f84 = 400 * (1 - math.exp(-84 / 400))
    assert pred[2]["projected_12w_kg"] == pytest.approx(42.74 - 0.02 * f84, abs=1e-4)


# --------------------------------------------------------------------------- version 2


def _json_bind() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(JSONB(), "postgresql")


def test_regenerate_rewrites_a_version_1_report_as_version_2(db_engine: sa.Engine) -> None:
    write(
        db_engine,
        users=[user(1, weekly_session_target=3)],
        workouts=_sessions(1, [-14, -13, -12, -7, -6, -5, 0, 1]),
    )
    _catch_up(db_engine)
    assert _rows(db_engine)[1]["report_version"] == 2
    # What version 1 wrote for this user: the nightly "current week" streak at W+6.
    old_report = {"report_version": 1, "streak_weeks": 2, "lapse_risk": "on_track"}
    with db_engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE weekly_reports SET report_version = 1, streak_weeks = 2, "
                "summary_text = 'version 1', report = :report WHERE user_id = 1"
            ).bindparams(sa.bindparam("report", type_=_json_bind())),
            {"report": old_report},
        )
    _catch_up(db_engine)  # without --regenerate a written report stays as it is
    kept = _rows(db_engine)[1]
    assert (kept["report_version"], kept["streak_weeks"], kept["summary_text"]) == (
        1,
        2,
        "version 1",
    )
    assert kept["report"] == old_report
    _catch_up(db_engine, regenerate=True, user_ids=[1])
    row = _rows(db_engine)[1]
    assert row["report_version"] == 2
    assert row["report"]["report_version"] == 2
    assert row["streak_weeks"] == 0
    assert row["report"]["previous_streak_weeks"] == 2
    assert row["summary_text"] == (
        "You trained twice this week (target 3), one session short, so your 2-week streak ended."
    )


# --------------------------------------------------------------------------- rounding


JSON_ROUNDING = {  # decimals of each real column's JSON copy (core.report docstring)
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
INTEGER_COLUMNS = ("report_version", "sessions", "session_target", "streak_weeks")


def test_json_report_agrees_with_the_numeric_columns(db_engine: sa.Engine) -> None:
    zones = ["Asia/Kathmandu", "America/St_Johns", "Europe/Berlin", "UTC", "Pacific/Chatham"]
    users, workouts, sets, weights = [], [], [], []
    for uid in range(1, 7):
        zone = zones[uid % len(zones)]
        users.append(
            user(
                uid,
                timezone=zone,
                weekly_session_target=[None, 2, 3, 4, 5, 3][uid - 1],
                sex="male" if uid % 2 else "female",
                birth_date=dt.date(1970 + 5 * uid, 3, 14),
                height_cm=None if uid == 6 else 158.0 + 4.3 * uid,
            )
        )
        days = [d for d in range(-45, 7) if (d * 7 + uid * 3) % (uid + 2) < 2]
        for k, d in enumerate(days):
            wid = next(_ids)
            workouts.append(
                workout(
                    uid,
                    _at(d, f"{6 + (k * 5) % 15:02d}:{(k * 17) % 60:02d}", zone),
                    id=wid,
                    status="partial"
                    if k % 9 == 4
                    else ("abandoned" if k % 11 == 7 else "completed"),
                    session_rpe=3 + (k * uid) % 7,
                    duration_seconds=1500 + 97 * ((k * 13 + uid) % 37),
                )
            )
            for j in range(1 + (k + uid) % 4):
                sets.append(
                    workout_set(
                        wid,
                        exercise=["squat", "bench press", "row", "press"][(j + k) % 4],
                        muscle_group=["quads", "chest", "back", "shoulders"][(j + k) % 4],
                        reps=3 + (j * 7 + k) % 9,
                        weight_kg=round(20 + 2.5 * ((k * 3 + j * 5 + uid) % 40), 1),
                        is_warmup=j == 0 and k % 3 == 0,
                    )
                )
        base = 60.0 + 7.7 * uid
        for d in range(-21, 7):
            if (d + uid) % 5 != 0:
                weights.append(
                    weigh_in(
                        uid,
                        _at(d, "07:10", zone),
                        round(base - 0.031 * d + 0.3 * math.sin(d * uid), 1),
                    )
                )
    write(db_engine, users=users, workouts=workouts, sets=sets, weigh_ins=weights)
    _catch_up(db_engine)
    rows = _rows(db_engine)
    assert sorted(rows) == [1, 2, 3, 4, 5, 6]
    seen = dict.fromkeys(JSON_ROUNDING, 0)
    for uid, row in rows.items():
        report = row["report"]
        for col in INTEGER_COLUMNS:
            assert report[col] == row[col], (uid, col)
        for col, digits in JSON_ROUNDING.items():
            value, copy = row[col], report[col]
            if value is None:
                assert copy is None, (uid, col)
                continue
            seen[col] += 1
            bound = 0.5 * 10**-digits + 1e-12 * max(1.0, abs(value))
            assert abs(copy - value) <= bound, (uid, col, value, copy)
    # a realistic batch: every numeric column had values to compare
    assert all(n >= 2 for n in seen.values()), seen
