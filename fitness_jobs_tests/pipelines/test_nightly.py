"""The nightly run end to end on SQLite and PostgreSQL: selection, time zones,
isolation, idempotency, backfills and limits."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from fitness_jobs.db import active_users, reads
from fitness_jobs.db import nightly as nightly_queries
from fitness_jobs.db.nightly import (
    metrics_keys_taken,
    metrics_range_violations,
    users_without_metrics,
)
from fitness_jobs.db.schema import UserBehaviorMetrics
from fitness_jobs.errors import ConfigurationError
from fitness_jobs.pipelines import nightly_chunk, nightly_days
from fitness_jobs.pipelines.nightly import (
    default_partition,
    run_coach_usage,
    run_nightly,
    snapshot_instant,
)
from fitness_jobs_tests.factories import ts, usage, user, workout, workout_set, write

D = dt.date(2026, 11, 28)
AS_OF = ts("2026-11-29 00:00")
NOW = ts("2026-11-29 02:00")


def _metrics(engine: sa.Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        frame = reads.metrics_rows(conn)
    return frame.sort_values(["user_id", "metrics_date"]).reset_index(drop=True)


def test_snapshot_instant_and_default_partition() -> None:
    assert snapshot_instant(D) == AS_OF
    # At 02:00 UTC the schedule runs yesterday; just before, the day before that.
    assert default_partition(ts("2026-11-29 02:00")) == D
    assert default_partition(ts("2026-11-29 01:59")) == dt.date(2026, 11, 27)
    assert default_partition(ts("2026-11-29 23:00")) == D


def test_active_user_boundaries(db_engine: sa.Engine) -> None:
    """Active = a finalized workout in (as_of − 30 days, as_of]; not deleted at as_of."""
    thirty = AS_OF - dt.timedelta(days=30)
    users = [user(i) for i in range(1, 10)]
    users[6]["deleted_at"] = AS_OF - dt.timedelta(seconds=1)  # 7: deleted before → out
    users[7]["deleted_at"] = AS_OF + dt.timedelta(seconds=1)  # 8: deleted after → in
    workouts = [
        workout(1, AS_OF),  # exactly at as_of → in
        workout(2, AS_OF + dt.timedelta(microseconds=1)),  # after → out
        workout(3, thirty),  # exactly 30 days before → out (open interval)
        workout(4, thirty + dt.timedelta(seconds=1)),  # in
        workout(5, AS_OF - dt.timedelta(days=1), status="abandoned"),  # not finalized kind → out
        workout(6, AS_OF - dt.timedelta(days=1), status="partial"),  # partial counts → in
        workout(7, AS_OF - dt.timedelta(days=1)),
        workout(8, AS_OF - dt.timedelta(days=1)),
        workout(9, None, status="in_progress"),  # never finalized → out
    ]
    write(db_engine, users=users, workouts=workouts)
    with db_engine.connect() as conn:
        assert active_users.active_user_ids(conn, AS_OF) == [1, 4, 6, 8]
        assert active_users.active_user_ids(conn, AS_OF, limit=2) == [1, 4]


def test_active_users_at_many_instants_agree_with_one_query_each(db_engine: sa.Engine) -> None:
    """The range form (one read for many snapshots) gives each snapshot exactly the ids
    of ``active_user_ids`` at it: sessions on both edges of each 30-day window, users
    deleted between two snapshots, an excluded row, a limit, instants in any order."""
    days = [AS_OF + dt.timedelta(days=k) for k in range(-3, 4)]
    users = [user(i) for i in range(1, 13)]
    users[6]["deleted_at"] = days[2] - dt.timedelta(seconds=1)  # 7: gone from day 2 on
    users[7]["deleted_at"] = days[4]  # 8: active up to day 3, gone on day 4
    workouts = [
        workout(1, days[0]),  # exactly at the first instant → active for all 7
        workout(2, days[6] + dt.timedelta(microseconds=1)),  # after the last → never
        workout(3, days[0] - dt.timedelta(days=30)),  # open end: never
        workout(4, days[3] - dt.timedelta(days=30)),  # active at days 0…2, not at 3
        workout(5, days[1], status="abandoned"),  # not a session
        workout(6, days[5] - dt.timedelta(hours=1), status="partial"),  # days 5, 6
        workout(7, days[0] - dt.timedelta(days=1)),
        workout(8, days[0] - dt.timedelta(days=1)),
        workout(9, None, status="in_progress"),
        workout(10, days[2], duration_seconds=-60),  # excluded by the validation
        workout(11, days[1] - dt.timedelta(days=29, hours=23)),  # days 0, 1
        workout(11, days[4] - dt.timedelta(days=2)),  # and again from day 2 (a gap: none)
        workout(12, days[6]),  # only the last
    ]
    write(db_engine, users=users, workouts=workouts)
    now = days[-1] + dt.timedelta(hours=2)  # no session is in the future
    with db_engine.connect() as conn:
        single = [active_users.active_user_ids(conn, t, now=now) for t in days]
        ranged = active_users.active_users_at(conn, days, now=now)
        shuffled = [days[i] for i in (4, 0, 6, 2, 1, 5, 3)]
        shuffled_out = active_users.active_users_at(conn, shuffled, 2, now=now)
    assert single == [
        [1, 4, 7, 8, 11],
        [1, 4, 7, 8, 11],
        [1, 4, 8, 11],
        [1, 8, 11],
        [1, 11],
        [1, 6, 11],
        [1, 6, 11, 12],
    ]
    assert [ids.tolist() for ids in ranged] == single
    assert [ids.tolist() for ids in shuffled_out] == [single[i][:2] for i in (4, 0, 6, 2, 1, 5, 3)]


ZONES = {
    1: ("Pacific/Kiritimati", dt.date(2026, 11, 29)),  # UTC+14
    2: ("Pacific/Pago_Pago", dt.date(2026, 11, 28)),  # UTC−11
    3: ("Asia/Kathmandu", dt.date(2026, 11, 29)),  # UTC+5:45
    4: ("America/St_Johns", dt.date(2026, 11, 28)),  # UTC−3:30
    5: ("UTC", dt.date(2026, 11, 29)),  # as_of is midnight of D+1
    6: (None, dt.date(2026, 11, 29)),  # NULL → UTC
    7: ("europe/berlin", dt.date(2026, 11, 29)),  # case-insensitive → Europe/Berlin
    8: ("UTC+3", None),  # invalid
    9: ("Mars/Base", None),  # invalid
    10: ("Europe/Berlin'; DROP TABLE users; --", None),  # invalid, never reaches SQL text
}


def test_metrics_date_per_time_zone_and_invalid_zones(db_engine: sa.Engine) -> None:
    users = [user(uid, timezone=zone) for uid, (zone, _) in ZONES.items()]
    workouts = [workout(uid, "2026-11-20 12:00") for uid in ZONES]
    write(db_engine, users=users, workouts=workouts)

    report = run_nightly(db_engine, D, now=NOW)

    assert report.active_users == 10
    assert report.failed == {8: "invalid_timezone", 9: "invalid_timezone", 10: "invalid_timezone"}
    assert report.written == 7
    assert report.timezones["null_fallback_utc"] == 1
    assert report.timezones["case_normalized"] == 1
    rows = _metrics(db_engine)
    got = {int(r.user_id): (r.metrics_date, r.timezone) for r in rows.itertuples()}
    for uid, (zone, expected) in ZONES.items():
        if expected is None:
            assert uid not in got
            continue
        assert got[uid][0] == expected, (uid, zone)
    assert got[7][1] == "Europe/Berlin"
    assert got[6][1] == "UTC"
    assert report.missing_user_ids == [8, 9, 10]
    with db_engine.connect() as conn:  # the injection string did nothing
        assert conn.execute(sa.text("SELECT COUNT(*) FROM users")).scalar_one() == 10


def test_dst_fall_back_day_counts_both_ambiguous_hours(db_engine: sa.Engine) -> None:
    """New York, 2026-11-01: 01:30 happens twice (EDT, then EST); both are that local day."""
    write(
        db_engine,
        users=[user(1, timezone="America/New_York", weekly_session_target=2)],
        workouts=[
            workout(1, "2026-11-01 05:30"),  # 01:30 EDT
            workout(1, "2026-11-01 06:30"),  # 01:30 EST
            workout(1, "2026-11-02 04:30"),  # 23:30 EST on Nov 1
            workout(1, "2026-11-02 05:30"),  # 00:30 EST on Nov 2 → after as_of anyway
        ],
    )
    run_nightly(db_engine, dt.date(2026, 11, 1), now=ts("2026-11-03 00:00"))
    row = _metrics(db_engine).iloc[0]
    assert row.metrics_date == dt.date(2026, 11, 1)  # as_of 11-02 00:00 UTC = 11-01 19:00 EST
    assert row.sessions_7d == 2  # the 23:30 EST session is after as_of
    assert row.days_since_last_session == 0


def test_a_user_whose_data_raises_fails_alone(
    db_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(
        db_engine,
        users=[user(i) for i in range(1, 9)],
        workouts=[workout(i, "2026-11-27 10:00") for i in range(1, 9)],
    )
    real = nightly_chunk.compute_behavior_metrics

    def flaky(users: pd.DataFrame, workouts: Any, sets: Any, **options: Any) -> pd.DataFrame:
        if 5 in set(users["user_id"]):
            raise RuntimeError("corrupt history for this user")
        return real(users, workouts, sets, **options)

    monkeypatch.setattr(nightly_chunk, "compute_behavior_metrics", flaky)
    report = run_nightly(db_engine, D, now=NOW)
    assert report.failed == {5: "compute_error:RuntimeError"}
    assert report.written == 7
    assert sorted(_metrics(db_engine)["user_id"].tolist()) == [1, 2, 3, 4, 6, 7, 8]
    assert report.bisections > 0


def test_bad_rows_are_excluded_not_fatal(db_engine: sa.Engine) -> None:
    good = workout(1, "2026-11-27 10:00", id=10)
    dup = workout(1, "2026-11-27 10:00", id=11)  # same user, status and instants → duplicate
    negative = workout(1, "2026-11-26 10:00", id=12, duration_seconds=-600)
    absurd_rpe = workout(1, "2026-11-25 10:00", id=13, session_rpe=15)
    write(
        db_engine,
        users=[user(1), user(2)],
        workouts=[good, dup, negative, absurd_rpe, workout(2, "2026-11-27 10:00", id=20)],
        sets=[
            workout_set(10, reps=5, weight_kg=100.0),
            workout_set(10, reps=5, weight_kg=99999.0),  # absurd → excluded
            workout_set(10, reps=5, weight_kg=60.0, is_warmup=True),  # warm-up → not volume
        ],
    )
    report = run_nightly(db_engine, D, now=NOW)
    assert report.failed == {}
    assert report.excluded_rows["duplicate_workout"] == 1
    assert report.excluded_rows["negative_duration"] == 1
    assert report.excluded_rows["session_rpe_out_of_range"] == 1
    assert report.excluded_rows["invalid_set_weight"] == 1
    row = _metrics(db_engine).set_index("user_id").loc[1]
    assert row.sessions_7d == 1
    assert row.volume_load_7d == pytest.approx(500.0)


def test_volume_is_the_sum_of_the_sets_in_id_order_exact_or_not(db_engine: sa.Engine) -> None:
    """Sets are read as one summary per workout when whole quarters make the volume exact;
    a user with any other weight gets the sum of the sets themselves, one by one in id
    order, as before (floating point sums depend on the order)."""
    inexact = [(301, 30, 3, 20.41), (302, 31, 7, 0.1), (303, 30, 1, 61.3), (304, 31, 9, 33.33)]
    write(
        db_engine,
        users=[user(1), user(2)],
        workouts=[
            workout(1, "2026-11-27 10:00", id=10),
            workout(1, "2026-11-26 10:00", id=11),
            workout(2, "2026-11-27 10:00", id=30),
            workout(2, "2026-11-26 10:00", id=31),
        ],
        sets=[
            workout_set(10, id=101, reps=5, weight_kg=102.5),
            workout_set(11, id=102, reps=8, weight_kg=61.25),
            workout_set(10, id=103, reps=3, weight_kg=20.0, is_warmup=True),
            *(workout_set(w, id=i, reps=r, weight_kg=kg) for i, w, r, kg in inexact),
        ],
    )
    run_nightly(db_engine, D, now=NOW)
    rows = _metrics(db_engine).set_index("user_id")
    expected = 0.0
    for _, _, reps, kg in inexact:
        expected += float(reps) * kg
    assert rows.loc[1, "volume_load_7d"] == 5 * 102.5 + 8 * 61.25
    assert rows.loc[2, "volume_load_7d"] == expected


def test_rerun_changes_nothing_and_backfill_order_does_not_matter(db_engine: sa.Engine) -> None:
    users = [user(1, timezone="Asia/Kathmandu"), user(2, timezone="America/St_Johns"), user(3)]
    workouts = [
        workout(uid, f"2026-11-{day:02d} {hour:02d}:15", session_rpe=6, duration_seconds=2400)
        for uid in (1, 2, 3)
        for day in range(1, 29, 2)
        for hour in (6, 18)
    ]
    write(db_engine, users=users, workouts=workouts, usage_rows=[usage(1, "2026-11-27", 4)])
    days = [dt.date(2026, 11, 25), dt.date(2026, 11, 26), dt.date(2026, 11, 27)]

    for day in days:
        run_nightly(db_engine, day, now=NOW)
    forward = _metrics(db_engine)
    second = run_nightly(db_engine, days[1], now=NOW + dt.timedelta(hours=5))
    assert second.changed == 0 and second.written == 3
    pd.testing.assert_frame_equal(_metrics(db_engine), forward)  # computed_at untouched too

    with db_engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM user_behavior_metrics"))
    for day in reversed(days):  # a backfill may run partitions in any order
        run_nightly(db_engine, day, now=NOW)
    pd.testing.assert_frame_equal(_metrics(db_engine), forward)
    assert len(forward) == 9
    assert forward["coach_requests_7d"].max() == 4


def test_limit(db_engine: sa.Engine) -> None:
    write(
        db_engine,
        users=[user(i) for i in (3, 1, 2, 7)],
        workouts=[workout(i, "2026-11-27 10:00") for i in (3, 1, 2, 7)],
    )
    assert run_nightly(db_engine, D, limit=0, now=NOW).written == 0
    assert _metrics(db_engine).empty
    report = run_nightly(db_engine, D, limit=2, now=NOW)
    assert report.active_users == 2
    assert _metrics(db_engine)["user_id"].tolist() == [1, 2]
    with pytest.raises(ConfigurationError, match="limit"):
        run_nightly(db_engine, D, limit=-1, now=NOW)


def test_chunking_gives_the_same_rows(db_engine: sa.Engine) -> None:
    users = [
        user(i, timezone=z)
        for i, z in enumerate(["UTC", "Asia/Tokyo", "America/Denver"] * 4, start=1)
    ]
    workouts = [workout(u["id"], f"2026-11-{d:02d} 09:00") for u in users for d in (20, 24, 27)]
    write(db_engine, users=users, workouts=workouts)
    one = run_nightly(db_engine, D, chunk_size=1000, now=NOW)
    whole = _metrics(db_engine)
    with db_engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM user_behavior_metrics"))
    five = run_nightly(db_engine, D, chunk_size=5, now=NOW)
    assert (one.chunks, five.chunks) == (1, 3)
    pd.testing.assert_frame_equal(_metrics(db_engine), whole)


def test_coach_usage_daily(db_engine: sa.Engine) -> None:
    write(
        db_engine,
        users=[user(i) for i in range(1, 6)],
        usage_rows=[
            usage(1, "2026-11-28", 10, tokens=1000),
            usage(2, "2026-11-28", 2, tokens=200),
            usage(3, "2026-11-28", 0, tokens=0),
            usage(4, "2026-11-28", 4, tokens=400),
            usage(5, "2026-11-27", 99),  # another day
        ],
    )
    row = run_coach_usage(db_engine, D, now=NOW)
    assert row["users_with_usage"] == 3
    assert row["total_requests"] == 16
    assert row["total_input_tokens"] == 1600
    assert row["max_requests_per_user"] == 10
    assert row["p95_requests_per_user"] == pytest.approx(9.4)  # numpy linear over [2, 4, 10]
    run_coach_usage(db_engine, D, now=NOW)  # idempotent
    with db_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM coach_usage_daily")).scalar_one() == 1


def test_range_check_query_flags_bad_values(db_engine: sa.Engine) -> None:
    write(db_engine, users=[user(1)], workouts=[workout(1, "2026-11-27 10:00")])
    run_nightly(db_engine, D, now=NOW)
    assert _violations(db_engine) == {}
    with db_engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE user_behavior_metrics SET adherence_4w = 1.5, sessions_7d = -1")
        )
    violations = _violations(db_engine)
    assert violations["adherence_4w outside [0, 1]"] == 1
    assert violations["negative count"] == 1


def test_checks_judge_each_snapshot_of_several_in_one_query(db_engine: sa.Engine) -> None:
    """A range's checks read all its snapshots at once and still judge each on its own: a
    bad row or a missing user counts for its own snapshot only."""
    days = [D - dt.timedelta(days=2), D - dt.timedelta(days=1), D]
    instants = [snapshot_instant(day) for day in days]
    write(db_engine, users=[user(1), user(2)], workouts=[workout(1, "2026-11-20 10:00")])
    for day in days:
        run_nightly(db_engine, day, now=NOW)
    t = UserBehaviorMetrics.__table__
    with db_engine.begin() as conn:
        conn.execute(t.update().where(t.c.snapshot_at == instants[1]).values(adherence_4w=1.5))
        conn.execute(t.delete().where(t.c.snapshot_at == instants[2]))
    with db_engine.connect() as conn:
        violations = metrics_range_violations(conn, instants)
        missing = users_without_metrics(conn, [(at, [2, 1]) for at in instants])
    assert violations == [{}, {"adherence_4w outside [0, 1]": 1}, {}]
    assert missing == [[2], [2], [2, 1]]  # user 2 never had a row; ids in the order asked
    # Read in groups of days at once (two and one here), each judged the same.
    wanted = [(at, [2, 1]) for at in instants]
    assert nightly_days.missing_and_violations(db_engine, wanted) == (missing, violations)
    assert nightly_days.range_violations(db_engine, instants) == violations
    # Only user 1 has sessions, so is active; the last day's rows are gone.
    assert nightly_days.coverage(db_engine, instants) == [(1, []), (1, []), (1, [1])]


def test_a_write_knows_whether_its_keys_are_new(
    db_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``metrics_keys_taken`` answers for exact (user, local date) keys: a neighbouring
    date of the same user, or another user's date, is not taken.  Past
    ``KEYS_LOOKED_AT`` rows in the dates' span it answers yes without reading on."""
    write(
        db_engine,
        users=[user(1, timezone="Pacific/Kiritimati"), user(2, timezone="America/New_York")],
        workouts=[workout(1, "2026-11-20 10:00"), workout(2, "2026-11-20 10:00")],
    )
    run_nightly(db_engine, D, now=NOW)
    kiritimati, new_york = D + dt.timedelta(days=1), D  # local dates at 00:00 UTC
    with db_engine.connect() as conn:
        assert metrics_keys_taken(conn, [1], [kiritimati])
        assert metrics_keys_taken(conn, [2, 1], [D - dt.timedelta(days=1), kiritimati])
        assert not metrics_keys_taken(conn, [1], [new_york])  # user 1's day before
        # Both rows are in the span read, but each at the other user's date.
        assert not metrics_keys_taken(conn, [1, 2], [new_york, kiritimati])
        assert not metrics_keys_taken(conn, [3], [D])
        assert not metrics_keys_taken(conn, [], [])
        monkeypatch.setattr(nightly_queries, "KEYS_LOOKED_AT", 1)
        assert metrics_keys_taken(conn, [1, 2], [new_york, kiritimati])  # two rows: stop


def _violations(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        (violations,) = metrics_range_violations(conn, [AS_OF])
        return violations
