"""The weekly run end to end on SQLite and PostgreSQL: window timing across zones,
edges, idempotency, catch-up, regeneration, concurrency and the sensor."""

from __future__ import annotations

import datetime as dt
import threading
import zoneinfo

import pandas as pd
import pytest
import sqlalchemy as sa

from fitness_jobs.defs.resources import AppDatabase
from fitness_jobs.defs.weekly.sensors import weekly_sensor_result
from fitness_jobs.errors import ConfigurationError
from fitness_jobs.pipelines.weekly import (
    latest_complete_week,
    missing_reports,
    report_rows,
    run_weekly,
    week_in_window_span,
)
from fitness_jobs_tests.factories import ts, user, weigh_in, workout, workout_set, write

W = dt.date(2026, 11, 23)  # reported week Mon 23 – Sun 29 Nov; reports on Monday 30 Nov
REPORT_DAY = dt.date(2026, 11, 30)

ELIGIBLE_ZONES = {
    1: "Asia/Kathmandu",
    2: "Pacific/Chatham",
    3: "Pacific/Kiritimati",
    4: "Pacific/Pago_Pago",
    5: "America/St_Johns",
    6: "Europe/Berlin",
}


def _local(day: dt.date, clock: str, zone: str) -> dt.datetime:
    naive = dt.datetime.fromisoformat(f"{day.isoformat()} {clock}")
    return naive.replace(tzinfo=zoneinfo.ZoneInfo(zone)).astimezone(dt.UTC)


def _population(engine: sa.Engine) -> None:
    users = [user(uid, timezone=zone, plan="pro") for uid, zone in ELIGIBLE_ZONES.items()]
    users += [
        user(
            7, timezone="Europe/Berlin", plan="trial", trial_ends_at=ts("2026-11-20 00:00")
        ),  # expired
        user(8, timezone="Europe/Berlin", plan="free"),
        user(9, timezone="Europe/Berlin", plan="pro", deleted_at=ts("2026-11-25 00:00")),
        user(10, timezone="Asia/Tokyo", plan="trial", trial_ends_at=None),  # open-ended trial
        user(11, timezone="America/New_York", plan="trial", trial_ends_at=ts("2026-12-20 00:00")),
    ]
    workouts = [workout(u["id"], "2026-11-25 12:00", id=100 + u["id"]) for u in users]
    sets = [workout_set(100 + u["id"], reps=5, weight_kg=80.0) for u in users]
    write(engine, users=users, workouts=workouts, sets=sets)


def test_week_span_helpers() -> None:
    assert week_in_window_span(ts("2026-11-29 12:59")) is None
    assert week_in_window_span(ts("2026-11-29 13:00")) == W
    assert week_in_window_span(ts("2026-11-30 17:59")) == W
    assert week_in_window_span(ts("2026-11-30 18:00")) is None
    assert week_in_window_span(ts("2026-12-02 00:00")) is None
    assert latest_complete_week(ts("2026-11-30 11:59")) == dt.date(2026, 11, 16)
    assert latest_complete_week(ts("2026-11-30 12:00")) == W


def test_hourly_sweep_gives_each_eligible_user_exactly_one_report_inside_their_window(
    db_engine: sa.Engine,
) -> None:
    _population(db_engine)
    at = ts("2026-11-29 12:00")
    runs = []
    started = dt.datetime.now(dt.UTC)
    while at <= ts("2026-11-30 18:00"):
        runs.append(run_weekly(db_engine, mode="window", at=at))
        at += dt.timedelta(hours=1)
    finished = dt.datetime.now(dt.UTC)
    assert all(not r.failed for r in runs)
    rows = report_rows(db_engine, W)
    assert sorted(rows["user_id"]) == [1, 2, 3, 4, 5, 6, 10, 11]
    assert rows["user_id"].is_unique
    zones = {**ELIGIBLE_ZONES, 10: "Asia/Tokyo", 11: "America/New_York"}
    for row in rows.itertuples():
        zone = zones[int(row.user_id)]
        start, end = _local(REPORT_DAY, "03:00", zone), _local(REPORT_DAY, "06:00", zone)
        # The run that wrote the row was deciding at an instant inside the user's window …
        (writer,) = [r for r in runs if int(row.user_id) in r.written_user_ids]
        assert start <= writer.at < end, (row.user_id, zone, writer.at)
        # … but generated_at is the wall-clock time of the write, not that instant.
        generated = pd.Timestamp(row.generated_at).to_pydatetime()
        assert started <= generated <= finished, (row.user_id, generated)
        assert row.timezone == zone
    assert sum(r.written for r in runs) == 8
    with db_engine.connect() as conn:
        predictions = conn.execute(
            sa.text("SELECT user_id FROM transformation_predictions WHERE week_start = :w"),
            {"w": W},
        ).scalars()
        assert sorted(predictions) == [1, 2, 3, 4, 5, 6, 10, 11]


def test_lord_howe_after_its_dst_change(db_engine: sa.Engine) -> None:
    """Lord Howe moves from +10:30 to +11 on Sunday 4 Oct 2026; its Monday 5 Oct window is
    16:00–19:00 UTC on the Sunday."""
    week = dt.date(2026, 9, 28)
    write(db_engine, users=[user(1, timezone="Australia/Lord_Howe")])
    assert run_weekly(db_engine, mode="window", at=ts("2026-10-04 15:59:59")).written == 0
    assert run_weekly(db_engine, mode="window", at=ts("2026-10-04 16:00:00")).written == 1
    rows = report_rows(db_engine, week)
    assert rows["user_id"].tolist() == [1]


@pytest.mark.parametrize(
    ("clock", "expected"),
    [("02:59:59", 0), ("03:00:00", 1), ("05:59:59", 1), ("06:00:00", 0)],
)
def test_window_edges(db_engine: sa.Engine, clock: str, expected: int) -> None:
    write(db_engine, users=[user(6, timezone="Europe/Berlin")])
    run = run_weekly(db_engine, mode="window", at=_local(REPORT_DAY, clock, "Europe/Berlin"))
    assert run.written == expected
    assert len(report_rows(db_engine, W)) == expected


def test_same_window_twice_adds_nothing_and_one_hour_late_still_catches(
    db_engine: sa.Engine,
) -> None:
    _population(db_engine)
    berlin_0430 = _local(REPORT_DAY, "04:30", "Europe/Berlin")
    first = run_weekly(db_engine, mode="window", at=berlin_0430)
    assert first.written >= 1 and 6 in first.written_user_ids
    again = run_weekly(db_engine, mode="window", at=berlin_0430)
    assert again.written == 0 and again.already_reported == first.written
    # Kathmandu's window is 21:15–00:15 UTC; a run at 23:15 (an hour or more late) still catches it.
    late = run_weekly(db_engine, mode="window", at=_local(REPORT_DAY, "05:00", "Asia/Kathmandu"))
    assert 1 in late.written_user_ids


def test_catch_up_fills_missed_windows_and_skips_unfinished_weeks(db_engine: sa.Engine) -> None:
    _population(db_engine)
    # Tuesday: every window has passed.
    run = run_weekly(db_engine, mode="catch_up", week=W, now=ts("2026-12-01 09:00"))
    assert sorted(run.written_user_ids) == [1, 2, 3, 4, 5, 6, 10, 11]
    assert run_weekly(db_engine, mode="catch_up", week=W, now=ts("2026-12-01 10:00")).written == 0
    # A catch-up while the week is still running somewhere only takes finished weeks.
    early = run_weekly(
        db_engine, mode="catch_up", week=dt.date(2026, 11, 30), now=ts("2026-12-06 12:30")
    )
    # 12:30 UTC on Sunday: only zones at UTC+11:30 or more have reached Monday 00:00.
    assert sorted(early.written_user_ids) == [2, 3]  # Chatham, Kiritimati
    assert missing_reports(db_engine, W, now=ts("2026-11-30 16:59"))["closed"] is False
    coverage = missing_reports(db_engine, W, now=ts("2026-11-30 17:00"))
    assert coverage["closed"] and coverage["missing"] == [] and coverage["eligible"] == 8


def test_coverage_names_missing_users(db_engine: sa.Engine) -> None:
    _population(db_engine)
    run_weekly(db_engine, mode="catch_up", week=W, user_ids=[1, 2, 3], now=ts("2026-12-01 00:00"))
    coverage = missing_reports(db_engine, W, now=ts("2026-12-01 00:00"))
    assert coverage["missing"] == [4, 5, 6, 10, 11]


def test_regeneration_rewrites_exactly_the_requested_users(db_engine: sa.Engine) -> None:
    _population(db_engine)
    run_weekly(db_engine, mode="catch_up", week=W, now=ts("2026-12-01 00:00"))
    before = report_rows(db_engine, W).set_index("user_id")
    run = run_weekly(
        db_engine,
        mode="catch_up",
        week=W,
        regenerate=True,
        user_ids=[2, 5],
        now=ts("2026-12-02 00:00"),
    )
    assert sorted(run.written_user_ids) == [2, 5]
    after = report_rows(db_engine, W).set_index("user_id")
    assert len(after) == len(before)
    changed = after.index[after["generated_at"] != before["generated_at"]].tolist()
    assert sorted(changed) == [2, 5]
    assert (after.loc[[2, 5], "id"] == before.loc[[2, 5], "id"]).all()  # rewritten in place


def test_invalid_zone_fails_only_that_user(db_engine: sa.Engine) -> None:
    _population(db_engine)
    write(db_engine, users=[user(20, timezone="+05:30"), user(21, timezone="IST", plan="free")])
    run = run_weekly(db_engine, mode="catch_up", week=W, now=ts("2026-12-01 00:00"))
    assert run.failed == {20: "invalid_timezone"}  # the free user is not eligible at all
    assert len(run.written_user_ids) == 8
    # In window mode the failure is reported during the UTC window only (not every hour).
    assert run_weekly(db_engine, mode="window", at=ts("2026-11-30 01:00")).failed == {}
    assert run_weekly(db_engine, mode="window", at=ts("2026-11-30 04:00")).failed == {
        20: "invalid_timezone"
    }


def test_concurrent_runs_of_the_same_week_never_duplicate(db_engine: sa.Engine) -> None:
    _population(db_engine)
    results: list[int] = []
    errors: list[BaseException] = []

    def go() -> None:
        try:
            results.append(
                run_weekly(db_engine, mode="catch_up", week=W, now=ts("2026-12-01 00:00")).written
            )
        except BaseException as exc:  # pragma: no cover - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(results) == [0, 0, 8]
    assert len(report_rows(db_engine, W)) == 8


def test_report_and_prediction_content_through_the_pipeline(db_engine: sa.Engine) -> None:
    write(
        db_engine,
        users=[
            user(
                1,
                timezone="Asia/Kathmandu",
                sex="male",
                birth_date=dt.date(1986, 1, 1),
                height_cm=180.0,
                weekly_session_target=3,
            )
        ],
    )
    weights = [90.0, 90.6, 89.7, 89.9, 90.3, 89.4, 89.6, 89.8, 89.1, 89.5, 89.0, 89.3, 88.7, 89.2]
    first_day = W - dt.timedelta(days=7)
    weigh_ins = [
        weigh_in(1, _local(first_day + dt.timedelta(days=i), "07:00", "Asia/Kathmandu"), w)
        for i, w in enumerate(weights)
    ]
    sessions = [
        workout(
            1,
            _local(W + dt.timedelta(days=d), "19:00", "Asia/Kathmandu"),
            id=500 + d,
            session_rpe=7,
            duration_seconds=3000,
        )
        for d in (0, 2, 4, 6)
    ]
    # Sunday 23:30 local in Kathmandu (17:45 UTC) still belongs to the week; Monday 00:30 does not.
    sessions.append(workout(1, _local(W + dt.timedelta(days=7), "00:30", "Asia/Kathmandu"), id=600))
    sets = [
        workout_set(
            500 + d,
            exercise="bench press",
            muscle_group="chest",
            secondary_muscle_group="triceps",
            reps=5,
            weight_kg=100.0,
        )
        for d in (0, 2, 4, 6)
    ]
    write(db_engine, workouts=sessions, sets=sets, weigh_ins=weigh_ins)

    run = run_weekly(db_engine, mode="catch_up", week=W, now=ts("2026-12-01 00:00"))
    assert run.failed == {} and run.written == 1
    row = report_rows(db_engine, W).iloc[0]
    assert row.sessions == 4
    assert row.session_target == 3
    assert row.volume_load_kg == pytest.approx(2000.0)
    assert row.prediction_status == "ok"
    assert row.trend_weight_kg == pytest.approx(88.90, abs=0.01)
    assert row.weight_change_kg_per_week == pytest.approx(-0.7, abs=0.001)
    report = row.report if isinstance(row.report, dict) else __import__("json").loads(row.report)
    assert report["sessions"] == 4
    assert row.summary_text == (
        "You trained 4 times this week (target 3), target met. "
        # 4 × 5 × 100 kg; chest 4 sets (primary), triceps 4 × 0.5 (secondary): both low
        "Volume load was 2,000 kg; triceps got just 2 hard sets and chest got just 4 hard sets. "
        # Epley 100·(1 + 5/30) = 116.67, no earlier e1RM: a first, not a record
        "First logged: bench press e1RM 116.7 kg, a baseline to beat. "
        # Theil–Sen: trend 88.9, −0.1 kg/day; 88.9 − 0.1·τ(1 − e^(−28/τ)) with τ below
        "Trend weight 88.9 kg, −0.7 kg/week; at this pace about 86.2 kg in 4 weeks."
    )
    with db_engine.connect() as conn:
        pred = conn.execute(
            sa.text("SELECT status, tau_days, flags FROM transformation_predictions")
        ).one()
    assert pred.status == "ok"
    # Hall (2011) τ by hand: a 40-year-old man (age on Sun 29 Nov 2026), 180 cm, trend 88.9 kg.
    from math import exp, log

    bw, height, age = 88.9, 180.0, 40
    pct_fat = 0.14 * age + 37.31 * log(bw / (height / 100) ** 2) - 103.94  # Jackson 2002, men
    fat_mass = bw * pct_fat / 100  # 22.43 kg (25.23 % at BMI 27.44)
    rmr = 10 * bw + 6.25 * height - 5 * age + 5  # Mifflin–St Jeor, men: 1819 kcal/day
    alpha = 10.4 / fat_mass
    delta = ((1 - 0.10) * 1.6 - 1) * rmr / bw  # βTEF 0.10, PAL 1.6
    eps = (3.107 + alpha * 21.99) / (1 + alpha) + delta  # γF, γL
    rho = (9440.7 + 179.3 + alpha * (1816.4 + 229.4)) / (1 + alpha)  # ρF + ηF, ρL + ηL
    tau = rho / eps
    assert tau == pytest.approx(399.096, abs=1e-3)  # computed, not the 400-day default
    assert pred.tau_days == pytest.approx(tau, abs=1e-4)  # weigh-ins are float4 on PostgreSQL
    flags = pred.flags if isinstance(pred.flags, list) else __import__("json").loads(pred.flags)
    assert flags == []  # τ from the model (no tau_default), height known, pace within limits
    assert 88.9 - 0.1 * tau * (1 - exp(-28 / tau)) == pytest.approx(86.196, abs=1e-3)


def test_bad_configuration_is_a_usage_error(db_engine: sa.Engine) -> None:
    with pytest.raises(ConfigurationError, match="Monday"):
        run_weekly(db_engine, mode="catch_up", week=dt.date(2026, 11, 24))
    with pytest.raises(ConfigurationError, match="mode"):
        run_weekly(db_engine, mode="sometimes", week=W)  # type: ignore[arg-type]


def test_sensor_with_a_fixed_clock(db_engine: sa.Engine) -> None:
    _population(db_engine)
    app_db = AppDatabase(url=db_engine.url.render_as_string(hide_password=False))
    quiet = weekly_sensor_result(app_db, ts("2026-11-27 10:00"), None)
    assert not quiet.run_requests and "Outside" in (
        quiet.skip_reason.skip_message if quiet.skip_reason else ""
    )

    berlin = weekly_sensor_result(
        app_db, _local(REPORT_DAY, "04:10", "Europe/Berlin"), quiet.cursor
    )
    assert berlin.run_requests is not None and len(berlin.run_requests) == 1
    request = berlin.run_requests[0]
    assert request.partition_key == "2026-11-23"
    assert request.run_key == "weekly:2026-11-23:2026-11-30T03"
    # At 03:10 UTC only Berlin (04:10) is inside its window: user 6. Users 7 (trial over),
    # 8 (free) and 9 (deleted) are in Berlin too but not eligible; every other zone is out.
    assert __import__("json").loads(berlin.cursor or "{}")["due"] == 1
    assert request.tags["fitness_jobs/due_at_tick"] == "1"

    run_weekly(db_engine, mode="window", at=_local(REPORT_DAY, "04:10", "Europe/Berlin"))
    after = weekly_sensor_result(
        app_db, _local(REPORT_DAY, "04:20", "Europe/Berlin"), berlin.cursor
    )
    assert not after.run_requests
    assert "nobody" in (after.skip_reason.skip_message if after.skip_reason else "")


class _NoQueries:
    def execute(self, *_args: object, **_kwargs: object) -> None:
        raise AssertionError("the sensor queried the database outside the window span")


def test_sensor_is_free_outside_the_window_span() -> None:
    from fitness_jobs.pipelines.weekly import sensor_due_count

    for instant in ("2026-11-26 09:00", "2026-11-29 12:59", "2026-11-30 18:00"):
        assert sensor_due_count(_NoQueries(), ts(instant)) == (None, 0)  # type: ignore[arg-type]


def test_sensor_count_matches_the_run(db_engine: sa.Engine) -> None:
    from fitness_jobs.pipelines.weekly import sensor_due_count

    _population(db_engine)
    write(db_engine, users=[user(30, timezone="europe/berlin"), user(31, timezone=None)])
    at = _local(REPORT_DAY, "04:00", "Europe/Berlin")  # Berlin 04:00 = UTC 03:00: both windows
    with db_engine.connect() as conn:
        week, due = sensor_due_count(conn, at)
    assert (week, due) == (W, 3)  # users 6 and 30 (Berlin, any spelling) and 31 (NULL → UTC)
    run = run_weekly(db_engine, mode="window", at=at)
    assert sorted(run.written_user_ids) == [6, 30, 31]
    with db_engine.connect() as conn:
        assert sensor_due_count(conn, at) == (W, 0)
