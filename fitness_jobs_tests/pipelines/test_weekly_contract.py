"""The weekly run against the design's numbers, on SQLite and PostgreSQL: personal records
from the database's earlier bests (§6.1, §11), CTL/TSB/ACWR/streak at W+6 (§5.4, §6.1),
and eligibility at each user's own window start or at the window run's instant (§2.5–2.6).

Every expected value is computed here from the design's formulas, never by the code under
test."""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from fitness_jobs.pipelines.weekly import report_rows, run_weekly
from fitness_jobs_tests.factories import ts, user, workout, workout_set, write

W = dt.date(2026, 11, 16)  # reported week: Mon 16 – Sun 22 Nov 2026; reports on Mon 23 Nov
NOW = ts("2026-12-01 09:00")  # every window of W has closed


def _local(day: dt.date, clock: str, zone: str) -> dt.datetime:
    naive = dt.datetime.fromisoformat(f"{day.isoformat()} {clock}")
    return naive.replace(tzinfo=zoneinfo.ZoneInfo(zone)).astimezone(dt.UTC)


def _report_json(row: Any) -> dict[str, Any]:
    value = row["report"]
    return value if isinstance(value, dict) else json.loads(value)


def _epley(weight: float, reps: int) -> float:
    """Epley (1985) as design §6.2 states it: w at 1 rep, w·(1 + r/30) for 2–10 reps."""
    return weight if reps == 1 else weight * (1 + reps / 30)


# --------------------------------------------------------------------------- records


def test_personal_records_against_the_database_bests_of_earlier_weeks(
    db_engine: sa.Engine,
) -> None:
    """History 10 weeks back (before the 4 weeks the report reads set by set, so only the
    database read of earlier bests can find it), then heavier, equal and lighter sets in W."""
    old = ts("2026-09-07 10:00")  # W − 70 days
    in_week = ts("2026-11-18 10:00")  # Wednesday of W
    write(
        db_engine,
        users=[user(1, timezone="UTC")],
        workouts=[
            workout(1, old, id=100),  # valid
            workout(1, old + dt.timedelta(hours=2), id=101, duration_seconds=-60),  # excluded
            workout(1, old + dt.timedelta(hours=4), id=102, session_rpe=11),  # excluded
            workout(1, in_week, id=200),
        ],
        sets=[
            workout_set(100, exercise="bench press", reps=5, weight_kg=100.0),
            workout_set(100, exercise="squat", reps=1, weight_kg=110.0),
            workout_set(100, exercise="deadlift", reps=5, weight_kg=150.0),
            # heavier, but their workouts are invalid: no history
            workout_set(101, exercise="deadlift", reps=5, weight_kg=200.0),
            workout_set(102, exercise="overhead press", reps=5, weight_kg=60.0),
            # week W
            workout_set(200, exercise="bench press", reps=5, weight_kg=105.0),
            workout_set(200, exercise="squat", reps=3, weight_kg=100.0),
            workout_set(200, exercise="deadlift", reps=5, weight_kg=160.0),
            workout_set(200, exercise="overhead press", reps=5, weight_kg=50.0),
        ],
    )
    run = run_weekly(db_engine, mode="catch_up", week=W, now=NOW)
    assert run.failed == {} and run.written_user_ids == [1]
    # The two bad workouts are in the year of sessions the run validates (their sets,
    # 10 weeks back, are not read one by one): excluded and counted once each.
    assert run.excluded_rows == {"negative_duration": 1, "session_rpe_out_of_range": 1}
    report = _report_json(report_rows(db_engine, W).iloc[0])

    bench, bench_prev = _epley(105.0, 5), _epley(100.0, 5)  # 122.5 over 116.667
    dead, dead_prev = _epley(160.0, 5), _epley(150.0, 5)  # 186.667 over 175 (not 233.333)
    # 100·(1 + 3/30) = 110 exactly, but 110.00000000000001 in floating point: equal all the same
    squat, squat_prev = _epley(100.0, 3), _epley(110.0, 1)
    assert squat_prev < squat <= squat_prev + 1e-9
    records = sorted(report["personal_records"], key=lambda r: r["exercise"])
    assert records == [
        {
            "exercise": "bench press",
            "e1rm_kg": round(bench, 3),
            "weight_kg": 105.0,
            "reps": 5,
            "date": "2026-11-18",
            "previous_best_e1rm_kg": round(bench_prev, 3),
            "personal_record": True,
            "first_time": False,
            "improvement_kg": round(bench - bench_prev, 3),
        },
        {
            "exercise": "deadlift",
            "e1rm_kg": round(dead, 3),
            "weight_kg": 160.0,
            "reps": 5,
            "date": "2026-11-18",
            "previous_best_e1rm_kg": round(dead_prev, 3),
            "personal_record": True,
            "first_time": False,
            "improvement_kg": round(dead - dead_prev, 3),
        },
    ]
    assert (round(bench, 3), round(bench - bench_prev, 3)) == (122.5, 5.833)
    assert (round(dead, 3), round(dead - dead_prev, 3)) == (186.667, 11.667)
    top = {lift["exercise"]: lift for lift in report["top_lifts"]}
    assert set(top) == {"bench press", "squat", "deadlift", "overhead press"}
    # Equal e1RM: not a record, with the earlier best shown.
    assert top["squat"]["personal_record"] is False and top["squat"]["first_time"] is False
    assert top["squat"]["previous_best_e1rm_kg"] == round(squat_prev, 3) == 110.0
    # The only earlier overhead press was in a session with RPE 11: a first, not compared.
    assert top["overhead press"]["first_time"] is True
    assert top["overhead press"]["personal_record"] is False
    assert top["overhead press"]["previous_best_e1rm_kg"] is None
    assert report["first_time_exercises"] == ["overhead press"]


def test_earlier_bests_are_read_only_for_users_with_a_session_near_the_week(
    db_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The history of bests is the chunk's heaviest read, and only week W's lifts use it.
    A Kiritimati (UTC+14) session early on Monday of W is finalized on Sunday in UTC: its
    user is still read, and gets the record; users without a session (an abandoned workout
    only, or training weeks ago) are not read and have no lifts."""
    from fitness_jobs.db import weekly as queries

    seen: list[int] = []
    real = queries.prior_best_e1rm

    def spy(conn: sa.Connection, user_ids: Any, until: Any, now: Any) -> pd.DataFrame:
        seen.extend(user_ids)
        return real(conn, user_ids, until, now)

    monkeypatch.setattr(queries, "prior_best_e1rm", spy)
    old = ts("2026-09-07 10:00")  # W − 70 days: only the history of bests has it
    monday_early = _local(W, "00:30", "Pacific/Kiritimati")
    assert monday_early < ts("2026-11-16 00:00")
    write(
        db_engine,
        users=[
            user(1, timezone="UTC"),
            user(2, timezone="Pacific/Kiritimati"),
            user(3, timezone="UTC"),
            user(4, timezone="UTC"),
        ],
        workouts=[
            *(workout(uid, old, id=100 + uid) for uid in (1, 2, 3, 4)),
            workout(1, ts("2026-11-22 23:30"), id=201),  # Sunday W, late
            workout(2, monday_early, id=202),
            workout(3, ts("2026-10-26 10:00"), id=203),  # W − 21 days
            workout(4, ts("2026-11-18 10:00"), id=204, status="abandoned"),
        ],
        sets=[
            *(
                workout_set(100 + uid, exercise="bench press", reps=5, weight_kg=100.0)
                for uid in (1, 2, 3, 4)
            ),
            *(
                workout_set(200 + uid, exercise="bench press", reps=5, weight_kg=105.0)
                for uid in (1, 2, 3, 4)
            ),
        ],
    )
    run = run_weekly(db_engine, mode="catch_up", week=W, now=NOW)
    assert run.failed == {} and run.written_user_ids == [1, 2, 3, 4]
    assert sorted(seen) == [1, 2]
    reports = {int(r["user_id"]): _report_json(r) for _, r in report_rows(db_engine, W).iterrows()}
    for uid in (1, 2):
        (record,) = reports[uid]["personal_records"]
        assert record["previous_best_e1rm_kg"] == round(_epley(100.0, 5), 3)
        assert record["e1rm_kg"] == round(_epley(105.0, 5), 3) == 122.5
    for uid in (3, 4):
        assert reports[uid]["top_lifts"] == [] and reports[uid]["personal_records"] == []


def test_the_earlier_best_is_the_best_e1rm_of_any_set(db_engine: sa.Engine) -> None:
    """The database keeps each session's heaviest weight per (exercise, reps) and takes
    the best e1RM over those: the same value, to the bit, as the best over every set.
    More reps at a lighter weight can win; warm-ups, more than 10 reps and 0 kg carry
    none; sessions after ``until`` are not history."""
    from fitness_jobs.db.weekly import prior_best_e1rm

    write(
        db_engine,
        users=[user(1), user(2)],
        workouts=[
            workout(1, "2026-10-05 10:00", id=100),
            workout(1, "2026-10-12 10:00", id=101),
            workout(1, "2026-11-18 10:00", id=102),  # after until
            workout(2, "2026-10-05 10:00", id=200),
        ],
        sets=[
            workout_set(100, exercise="bench press", reps=5, weight_kg=100.0),
            workout_set(100, exercise="bench press", reps=5, weight_kg=97.5),
            workout_set(100, exercise="bench press", reps=3, weight_kg=102.5),
            workout_set(100, exercise="bench press", reps=1, weight_kg=110.0),
            workout_set(100, exercise="bench press", reps=12, weight_kg=120.0),
            workout_set(100, exercise="bench press", reps=1, weight_kg=130.0, is_warmup=True),
            workout_set(101, exercise="bench press", reps=5, weight_kg=101.0),
            workout_set(101, exercise="squat", reps=5, weight_kg=0.0),
            workout_set(101, exercise="squat", reps=2, weight_kg=80.0),
            workout_set(102, exercise="squat", reps=1, weight_kg=200.0),
            workout_set(200, exercise="squat", reps=1, weight_kg=140.0),
            workout_set(200, exercise="squat", reps=10, weight_kg=100.0),
        ],
    )
    with db_engine.connect() as conn:
        best = prior_best_e1rm(conn, [1, 2], ts("2026-11-15 00:00"), NOW)
    got = {(int(r.user_id), r.exercise): r.best_e1rm for r in best.itertuples()}
    assert got == {
        (1, "bench press"): 101.0 * (1.0 + 5 / 30.0),  # 117.833…, over 110 kg × 1
        (1, "squat"): 80.0 * (1.0 + 2 / 30.0),
        (2, "squat"): 140.0,  # 140 kg × 1 over 100 kg × 10 (133.33…)
    }


def test_earlier_bests_use_the_weights_the_report_reads(db_engine: sa.Engine) -> None:
    """20.0105 kg is stored in a PostgreSQL ``real`` as 20.01049995…; the report reads it as
    20.0105 (the shortest text), so the earlier best, aggregated by the database, must be
    computed from that value too: equal lifts show equal e1RMs (20.011, not 20.01 beside
    20.011), on both databases."""
    old = ts("2026-09-07 10:00")  # W − 70 days: only the database's bests have it
    weight = 20.0105
    write(
        db_engine,
        users=[user(1, timezone="UTC")],
        workouts=[workout(1, old, id=100), workout(1, ts("2026-11-18 10:00"), id=200)],
        sets=[
            workout_set(100, exercise="bench press", reps=1, weight_kg=weight),
            workout_set(100, exercise="squat", reps=1, weight_kg=weight),
            workout_set(200, exercise="bench press", reps=1, weight_kg=weight),
            workout_set(200, exercise="squat", reps=1, weight_kg=30.0),
        ],
    )
    run_weekly(db_engine, mode="catch_up", week=W, now=NOW)
    report = _report_json(report_rows(db_engine, W).iloc[0])
    top = {lift["exercise"]: lift for lift in report["top_lifts"]}
    assert top["bench press"]["e1rm_kg"] == top["bench press"]["previous_best_e1rm_kg"] == 20.011
    assert top["bench press"]["personal_record"] is False
    (record,) = report["personal_records"]
    assert record["exercise"] == "squat" and record["previous_best_e1rm_kg"] == 20.011
    assert record["improvement_kg"] == round(30.0 - weight, 3)


# --------------------------------------------------------------------------- loads at W+6

ZONE = "Asia/Kathmandu"  # +5:45: local days differ from UTC days


def _load_sessions() -> list[tuple[dt.date, int, int]]:
    """(local day, session_rpe, duration_seconds) of a user's sessions: weeks W−63 … W−7 on
    Mon/Wed/Fri (only Mon/Wed in week W−28, which breaks the streak), and a heavy week W
    with a double session on Wednesday and one on Sunday W+6."""
    out: list[tuple[dt.date, int, int]] = []
    for k in range(-9, 0):
        days = (0, 2) if k == -4 else (0, 2, 4)
        for d in days:
            out.append(
                (W + dt.timedelta(days=7 * k + d), 5 + (k + d) % 4, 1800 + 300 * ((d - k) % 5))
            )
    for d, rpe, secs in ((0, 9, 5400), (2, 8, 4800), (2, 6, 1200), (4, 9, 6000), (6, 7, 3600)):
        out.append((W + dt.timedelta(days=d), rpe, secs))
    return out


def _hand_loads(sessions: list[tuple[dt.date, int, int]], end: dt.date) -> dict[str, float]:
    """Design §5.4 by hand: daily sRPE load over the 180 days ending ``end``; every average
    starts at 0; TSB from the day before ``end``; EWMA ACWR with λa = 2/8, λc = 2/29."""
    daily: dict[dt.date, float] = {}
    for day, rpe, secs in sessions:
        if day <= end:
            daily[day] = daily.get(day, 0.0) + rpe * secs / 60  # Foster sRPE
    ctl = atl = acute = chronic = 0.0
    tsb = 0.0
    for i in range(180):
        day = end - dt.timedelta(days=179 - i)
        if day == end:
            tsb = ctl - atl  # CTL − ATL of the day before
        load = daily.get(day, 0.0)
        ctl += (load - ctl) / 42
        atl += (load - atl) / 7
        acute += 2 / 8 * (load - acute)
        chronic += 2 / 29 * (load - chronic)
    week_load = sum(v for d, v in daily.items() if W <= d <= end)
    return {"ctl": ctl, "atl": atl, "tsb": tsb, "acwr": acute / chronic, "srpe_load": week_load}


def test_ctl_tsb_acwr_and_streak_at_w_plus_6(db_engine: sa.Engine) -> None:
    sessions = _load_sessions()
    workouts = [
        workout(
            2,
            _local(day, f"{18 + n % 3}:30", ZONE),  # evening, local; distinct instants
            id=3000 + n,
            session_rpe=rpe,
            duration_seconds=secs,
        )
        for n, (day, rpe, secs) in enumerate(sessions)
    ]
    # Local Monday W+7 00:30 is after the week: not in any number of the report.
    workouts.append(
        workout(
            2,
            _local(W + dt.timedelta(days=7), "00:30", ZONE),
            id=3999,
            session_rpe=10,
            duration_seconds=7200,
        )
    )
    write(
        db_engine,
        users=[user(2, timezone=ZONE, weekly_session_target=3)],
        workouts=workouts,
    )
    run = run_weekly(db_engine, mode="catch_up", week=W, now=NOW)
    assert run.failed == {} and run.written_user_ids == [2]
    row = report_rows(db_engine, W).iloc[0]
    report = _report_json(row)

    hand = _hand_loads(sessions, W + dt.timedelta(days=6))
    # Week W is a spike on a steady base: by hand, ACWR is above the 1.5 flag threshold.
    assert hand["acwr"] > 1.5
    assert row["ctl"] == pytest.approx(hand["ctl"], rel=1e-9)
    assert row["tsb"] == pytest.approx(hand["tsb"], rel=1e-9)
    assert row["acwr"] == pytest.approx(hand["acwr"], rel=1e-9)
    assert row["srpe_load"] == pytest.approx(hand["srpe_load"], rel=1e-9)
    assert row["acwr_flag"] == "spike"
    # Streak ending with W: W−21, W−14, W−7 and W have ≥ 3 sessions, W−28 only 2.
    assert row["streak_weeks"] == 4
    assert row["sessions"] == 5
    assert report["ctl"] == round(hand["ctl"], 3)
    assert report["tsb"] == round(hand["tsb"], 3)
    assert report["acwr"] == round(hand["acwr"], 4)
    assert report["srpe_load"] == round(hand["srpe_load"], 2)
    assert report["acwr_flag"] == "spike"
    assert report["streak_weeks"] == 4


def test_acwr_is_null_when_the_first_session_is_under_28_days_before_w_plus_6(
    db_engine: sa.Engine,
) -> None:
    """First session on W−21 (27 days before W+6): ACWR NULL, CTL/TSB still computed."""
    sessions = [(W + dt.timedelta(days=d), 6, 3000) for d in (-21, -20, -14, -7, 0, 2, 4)]
    first_ok = [(W + dt.timedelta(days=-22), 6, 3000), *sessions]  # 28 days before: defined
    write(
        db_engine,
        users=[user(3, timezone=ZONE), user(4, timezone=ZONE)],
        workouts=[
            workout(
                uid,
                _local(day, "18:00", ZONE),
                id=4000 + 100 * uid + n,
                session_rpe=rpe,
                duration_seconds=secs,
            )
            for uid, series in ((3, sessions), (4, first_ok))
            for n, (day, rpe, secs) in enumerate(series)
        ],
    )
    run = run_weekly(db_engine, mode="catch_up", week=W, now=NOW)
    assert run.failed == {} and sorted(run.written_user_ids) == [3, 4]
    rows = report_rows(db_engine, W).set_index("user_id")
    end = W + dt.timedelta(days=6)
    short, long = _hand_loads(sessions, end), _hand_loads(first_ok, end)
    assert pd.isna(rows.loc[3, "acwr"]) and rows.loc[3, "acwr_flag"] is None
    assert rows.loc[3, "ctl"] == pytest.approx(short["ctl"], rel=1e-9)
    assert rows.loc[3, "tsb"] == pytest.approx(short["tsb"], rel=1e-9)
    assert _report_json(rows.loc[3])["acwr"] is None
    assert rows.loc[4, "acwr"] == pytest.approx(long["acwr"], rel=1e-9)


# --------------------------------------------------------------------------- eligibility

SECOND = dt.timedelta(seconds=1)


def test_catch_up_eligibility_at_each_users_own_window_start(db_engine: sa.Engine) -> None:
    """Catch-up: eligible at the user's local Monday W+7 03:00 (§2.6).  A trial ending or a
    deletion one second before that instant (or at it) excludes; one second after does not."""
    starts = {
        "Europe/Berlin": _local(W + dt.timedelta(days=7), "03:00", "Europe/Berlin"),
        "Pacific/Kiritimati": _local(W + dt.timedelta(days=7), "03:00", "Pacific/Kiritimati"),
        "Pacific/Pago_Pago": _local(W + dt.timedelta(days=7), "03:00", "Pacific/Pago_Pago"),
    }
    assert starts == {
        "Europe/Berlin": ts("2026-11-23 02:00"),
        "Pacific/Kiritimati": ts("2026-11-22 13:00"),
        "Pacific/Pago_Pago": ts("2026-11-23 14:00"),
    }
    users = []
    expected = []
    uid = 0
    for zone, start in starts.items():
        for field, plan in (("trial_ends_at", "trial"), ("deleted_at", "pro")):
            for offset, eligible in ((-SECOND, False), (dt.timedelta(0), False), (SECOND, True)):
                uid += 1
                users.append(user(uid, timezone=zone, plan=plan, **{field: start + offset}))
                if eligible:
                    expected.append(uid)
    write(db_engine, users=users)
    run = run_weekly(db_engine, mode="catch_up", week=W, now=NOW)
    assert run.failed == {}
    assert sorted(run.written_user_ids) == expected == [3, 6, 9, 12, 15, 18]
    assert sorted(report_rows(db_engine, W)["user_id"]) == expected


def test_window_mode_eligibility_is_at_the_runs_instant(db_engine: sa.Engine) -> None:
    """Window mode at ``at`` (Berlin 04:00, inside its window that opened at 03:00): a trial
    that ended or a deletion between the window start and ``at`` means not due."""
    start = ts("2026-11-23 02:00")  # Berlin Monday W+7 03:00
    at = ts("2026-11-23 03:00")
    write(
        db_engine,
        users=[
            user(1, timezone="Europe/Berlin", plan="trial", trial_ends_at=start + 30 * 60 * SECOND),
            user(2, timezone="Europe/Berlin", plan="trial", trial_ends_at=at),
            user(3, timezone="Europe/Berlin", plan="trial", trial_ends_at=at + SECOND),
            user(4, timezone="Europe/Berlin", plan="pro", deleted_at=start + 30 * 60 * SECOND),
            user(5, timezone="Europe/Berlin", plan="pro", deleted_at=at + SECOND),
            user(6, timezone="Europe/Berlin", plan="pro"),
        ],
    )
    run = run_weekly(db_engine, mode="window", at=at, now=NOW)
    assert run.week_start == W and run.failed == {}
    assert sorted(run.written_user_ids) == [3, 5, 6]
    assert sorted(report_rows(db_engine, W)["user_id"]) == [3, 5, 6]
