"""Tests of the synthetic demo data: shape, determinism, realism, bad rows, bulk writes."""

from __future__ import annotations

import datetime as dt
import math
import re
import zoneinfo

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from fitness_jobs.db.schema import APP_TABLES, Base
from fitness_jobs.demo.generator import (
    BAD_ROW_KINDS,
    PERSONAS,
    REQUIRED_ZONES,
    STATUSES,
    DemoConfig,
    generate_demo,
    write_demo,
)

# Window 2025-12-12 .. 2026-04-10: crosses the US (Mar 8), EU (Mar 29) and southern
# (Santiago Apr 4, Sydney / Lord Howe / Chatham Apr 5) DST changes.
NOW = dt.datetime(2026, 4, 10, 14, 30, tzinfo=dt.UTC)
TODAY = NOW.date()
CANONICAL = {z.lower(): z for z in zoneinfo.available_timezones()}


@pytest.fixture(scope="module")
def demo() -> dict[str, pd.DataFrame]:
    return generate_demo(DemoConfig(users=2000, seed=11), now=NOW)


@pytest.fixture(scope="module")
def bad_demo() -> dict[str, pd.DataFrame]:
    return generate_demo(DemoConfig(users=200, seed=5, with_bad_rows=True), now=NOW)


def _finalized(workouts: pd.DataFrame) -> pd.DataFrame:
    return workouts[workouts["status"].isin(["completed", "partial", "abandoned"])]


# --------------------------------------------------------------------------- shape


def test_frames_have_the_schema_columns_ids_and_types(demo: dict[str, pd.DataFrame]) -> None:
    for name in APP_TABLES:
        assert list(demo[name].columns) == [c.name for c in Base.metadata.tables[name].columns]
        assert len(demo[name]) > 0
    users, workouts, sets = demo["users"], demo["workouts"], demo["workout_sets"]
    assert users["id"].tolist() == list(range(1, 2001))
    for name in ("workouts", "workout_sets", "body_weight_logs"):
        assert demo[name]["id"].tolist() == list(range(1, len(demo[name]) + 1))
    assert set(workouts["user_id"]) <= set(users["id"])
    assert set(sets["workout_id"]) <= set(workouts["id"])
    assert set(demo["body_weight_logs"]["user_id"]) <= set(users["id"])
    llm = demo["llm_usage_daily"]
    assert set(llm["user_id"]) <= set(users["id"])
    assert not llm.duplicated(["user_id", "usage_date"]).any()
    for frame, col in [
        (users, "created_at"),
        (users, "deleted_at"),
        (users, "trial_ends_at"),
        (workouts, "started_at"),
        (workouts, "finalized_at"),
        (demo["body_weight_logs"], "measured_at"),
    ]:
        assert str(frame[col].dt.tz) == "UTC", col
    assert all(type(d) is dt.date for d in llm["usage_date"])
    assert all(d is None or type(d) is dt.date for d in users["birth_date"])
    assert all(
        re.fullmatch(rf"user{i}@example\.com", e)
        for i, e in zip(users["id"], users["email"], strict=True)
    )


def test_first_user_id_shifts_user_ids_only() -> None:
    a = generate_demo(DemoConfig(users=120, seed=3, days=45), now=NOW)
    b = generate_demo(DemoConfig(users=120, seed=3, days=45, first_user_id=10_001), now=NOW)
    assert b["users"]["id"].tolist() == list(range(10_001, 10_121))
    pd.testing.assert_frame_equal(
        a["users"].drop(columns=["id", "email"]), b["users"].drop(columns=["id", "email"])
    )
    pd.testing.assert_series_equal(a["workouts"]["user_id"] + 10_000, b["workouts"]["user_id"])
    pd.testing.assert_frame_equal(a["workout_sets"], b["workout_sets"])


# --------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_frames_and_different_seed_differs() -> None:
    config = DemoConfig(users=300, seed=99, days=60, today=dt.date(2026, 1, 20))
    first, second = generate_demo(config), generate_demo(config)  # no `now`: from `today`
    assert first.keys() == second.keys()
    for name in first:
        pd.testing.assert_frame_equal(first[name], second[name], check_exact=True)
    # nothing after the end of `today` although the wall clock is later
    end = pd.Timestamp("2026-01-21", tz="UTC")
    assert first["workouts"]["started_at"].max() < end
    assert first["workouts"]["finalized_at"].max() < end

    other = generate_demo(DemoConfig(users=300, seed=100, days=60, today=dt.date(2026, 1, 20)))
    assert not first["users"]["timezone"].equals(other["users"]["timezone"])
    assert len(first["workouts"]) != len(other["workouts"]) or not first["workouts"][
        "started_at"
    ].equals(other["workouts"]["started_at"])


def test_bad_rows_leave_the_good_users_untouched(bad_demo: dict[str, pd.DataFrame]) -> None:
    good = generate_demo(DemoConfig(users=200, seed=5), now=NOW)
    for name in ("users", "workouts", "workout_sets", "body_weight_logs", "personas"):
        key = "user_id" if name == "personas" else "id"
        head = bad_demo[name][bad_demo[name][key] <= good[name][key].max()]
        pd.testing.assert_frame_equal(head.reset_index(drop=True), good[name])
    assert good["bad_rows"].empty


# --------------------------------------------------------------------------- users


def test_time_zones_are_spread_with_null_and_case_variants(demo: dict[str, pd.DataFrame]) -> None:
    tz = demo["users"]["timezone"]
    present = set(tz.dropna())
    assert len(present) >= 10
    assert set(REQUIRED_ZONES) <= present
    assert 0.01 <= tz.isna().mean() <= 0.04
    variants = [z for z in present if z not in CANONICAL.values()]
    assert variants, "expected non-canonical case variants"
    assert all(z.lower() in CANONICAL for z in variants)  # all resolvable: no bad rows here
    assert 0.002 <= len(tz[tz.isin(variants)]) / len(tz) <= 0.01


def test_plans_trials_targets_and_profiles(demo: dict[str, pd.DataFrame]) -> None:
    users = demo["users"]
    assert set(users["plan"]) == {"free", "trial", "pro"}
    trial = users[users["plan"] == "trial"]
    now = pd.Timestamp(NOW)
    assert (trial["trial_ends_at"] < now).sum() > 10  # expired
    assert (trial["trial_ends_at"] > now).sum() > 10  # running
    assert trial["trial_ends_at"].isna().sum() > 0
    assert users.loc[users["plan"] != "trial", "trial_ends_at"].isna().all()
    target = users["weekly_session_target"]
    assert target.isna().any() and target.notna().any()
    assert set(target.dropna()) == {2, 3, 4, 5, 6}
    assert set(users["sex"].dropna()) == {"male", "female"} and users["sex"].isna().any()
    births = users["birth_date"].dropna()
    assert users["birth_date"].isna().any()
    ages = [(TODAY - b).days / 365.25 for b in births]
    assert min(ages) >= 18 and max(ages) <= 70.1
    height = users["height_cm"]
    assert height.isna().any() and height.dropna().between(140, 210).all()


def test_created_before_first_activity_and_some_users_deleted(
    demo: dict[str, pd.DataFrame],
) -> None:
    users = demo["users"].set_index("id")
    workouts = demo["workouts"]
    first = workouts.groupby("user_id")["started_at"].min()
    assert (users.loc[first.index, "created_at"] < first).all()
    first_weigh = demo["body_weight_logs"].groupby("user_id")["measured_at"].min()
    assert (users.loc[first_weigh.index, "created_at"] < first_weigh).all()

    deleted = users[users["deleted_at"].notna()]
    assert 0.005 <= len(deleted) / len(users) <= 0.02
    assert (deleted["deleted_at"] > deleted["created_at"]).all()
    assert (deleted["deleted_at"] <= pd.Timestamp(NOW)).all()
    last_start = workouts.groupby("user_id")["started_at"].max().reindex(deleted.index)
    last_fin = workouts.groupby("user_id")["finalized_at"].max().reindex(deleted.index)
    assert (deleted["deleted_at"] < last_start).sum() >= 3  # deleted, activity went on
    assert (deleted["deleted_at"] > last_fin).sum() >= 3  # deleted after the last workout


# --------------------------------------------------------------------------- personas


def test_every_persona_behaves_as_described(demo: dict[str, pd.DataFrame]) -> None:
    personas = demo["personas"].set_index("user_id")
    assert set(personas["persona"]) == set(PERSONAS)
    users = demo["users"].set_index("id")
    workouts = demo["workouts"]
    now = pd.Timestamp(NOW)
    last = workouts.groupby("user_id")["started_at"].max()
    by = personas.groupby("persona").groups

    churned = by["churned"]
    assert not (
        workouts["user_id"].isin(churned) & (workouts["started_at"] >= now - pd.Timedelta(days=45))
    ).any()
    llm = demo["llm_usage_daily"]
    assert not (
        llm["user_id"].isin(churned) & (llm["usage_date"] >= TODAY - dt.timedelta(days=44))
    ).any()

    lapsing_last = last.reindex(by["lapsing"])
    assert lapsing_last.notna().all()
    assert (lapsing_last <= now - pd.Timedelta(days=12)).all()
    assert (lapsing_last >= now - pd.Timedelta(days=38)).all()

    new = users.loc[by["new"]]
    assert (new["created_at"] >= now - pd.Timedelta(days=21)).all()
    assert (users.drop(index=by["new"])["created_at"] < now - pd.Timedelta(days=100)).all()

    returning = workouts[workouts["user_id"].isin(by["returning"])].sort_values(
        ["user_id", "started_at"]
    )
    gaps = returning.groupby("user_id")["started_at"].diff().groupby(returning["user_id"]).max()
    assert (gaps >= pd.Timedelta(days=21)).mean() > 0.95
    assert (last.reindex(by["returning"]) >= now - pd.Timedelta(days=14)).all()

    # consistent users train about T (their weekly rhythm) times a week
    consistent = personas.loc[by["consistent"]]
    per_week = workouts["user_id"].value_counts().reindex(consistent.index).fillna(0) / (120 / 7)
    off = (per_week - consistent["sessions_per_week"]).abs()
    assert (off <= 1).mean() > 0.9
    target = users.loc[consistent.index, "weekly_session_target"]
    known = target.notna()
    assert (consistent.loc[known, "sessions_per_week"] == target[known]).all()


def test_started_at_is_the_preferred_local_hour_in_the_users_zone(
    demo: dict[str, pd.DataFrame],
) -> None:
    personas = demo["personas"].set_index("user_id")
    consistent = personas[personas["persona"] == "consistent"]
    w = _finalized(demo["workouts"])
    w = w[w["user_id"].isin(consistent.index)]
    checked_zones: set[str] = set()
    for zone, idx in w.groupby(w["user_id"].map(consistent["timezone"])).groups.items():
        rows = w.loc[idx]
        local = rows["started_at"].dt.tz_convert(str(zone))
        hour = local.dt.hour + local.dt.minute / 60 + local.dt.second / 3600
        pref = rows["user_id"].map(consistent["preferred_hour_local"])
        diff = np.abs((hour - pref + 12) % 24 - 12)
        assert diff.max() <= 0.76, zone  # consistent: ±45 min around the preferred hour
        checked_zones.add(str(zone))
        if zone == "Asia/Kathmandu":
            # the check has teeth: UTC clock hours are 5:45 away from the local ones
            utc = rows["started_at"].dt.hour + rows["started_at"].dt.minute / 60
            assert (np.abs((utc - pref + 12) % 24 - 12) > 4).all()
    assert {
        "Asia/Kathmandu",
        "Pacific/Chatham",
        "America/St_Johns",
        "Europe/Berlin",
        "Australia/Lord_Howe",
        "Pacific/Kiritimati",
        "Pacific/Pago_Pago",
    } <= checked_zones
    # DST: Berlin sessions on both sides of 2026-03-29 kept their local hour (checked above)
    berlin = w[w["user_id"].map(consistent["timezone"]) == "Europe/Berlin"]["started_at"]
    assert (berlin < pd.Timestamp("2026-03-29", tz="UTC")).any()
    assert (berlin > pd.Timestamp("2026-03-30", tz="UTC")).any()


# --------------------------------------------------------------------------- workouts and sets


def test_workout_statuses_durations_and_now(demo: dict[str, pd.DataFrame]) -> None:
    w = demo["workouts"]
    now = pd.Timestamp(NOW)
    assert set(w["status"]) == set(STATUSES)
    counts = w["status"].value_counts(normalize=True)
    assert counts["completed"] > 0.7
    in_progress = w["status"] == "in_progress"
    assert (w["finalized_at"].isna() == in_progress).all()
    assert w.loc[in_progress, "duration_seconds"].isna().all()
    assert (w.loc[in_progress, "started_at"] > now - pd.Timedelta(hours=2)).all()

    done = w[~in_progress]
    assert (done["finalized_at"] >= done["started_at"]).all()
    assert (
        done["finalized_at"] - done["started_at"]
        == pd.to_timedelta(done["duration_seconds"].astype("int64"), unit="s")
    ).all()
    assert w["started_at"].max() <= now and done["finalized_at"].max() <= now
    assert demo["body_weight_logs"]["measured_at"].max() <= now
    assert (demo["llm_usage_daily"]["usage_date"] <= TODAY).all()
    dur = done.set_index("status")["duration_seconds"]
    assert dur.loc[["completed", "partial"]].between(20 * 60, 90 * 60).all()
    assert (dur.loc["abandoned"] < 20 * 60).all() and (dur.loc["abandoned"] > 0).all()
    rpe = w["session_rpe"]
    assert rpe.isna().any() and rpe.dropna().between(1, 10).all()


def test_sets_exercises_reps_weights_and_warmups(demo: dict[str, pd.DataFrame]) -> None:
    sets, w = demo["workout_sets"], demo["workouts"]
    per_workout = sets.groupby("workout_id").size()
    completed = w.loc[w["status"] == "completed", "id"]
    assert per_workout.reindex(completed).between(10, 25).all()
    assert sets["reps"].between(1, 15).all()
    assert sets["weight_kg"].between(0, 400).all()
    assert sets["rpe"].isna().any() and sets["rpe"].dropna().between(4, 10).all()
    expected = {
        "bench press": ("chest", "triceps"),
        "squat": ("quads", "glutes"),
        "deadlift": ("hamstrings", "back"),
        "barbell row": ("back", "biceps"),
        "overhead press": ("shoulders", "triceps"),
        "pull-up": ("back", "biceps"),
        "lunge": ("quads", "glutes"),
        "biceps curl": ("biceps", None),
    }
    pairs = sets[["exercise", "muscle_group", "secondary_muscle_group"]].drop_duplicates()
    mapping = {
        r.exercise: (
            r.muscle_group,
            None if pd.isna(r.secondary_muscle_group) else r.secondary_muscle_group,
        )
        for r in pairs.itertuples()
    }
    assert len(mapping) == len(pairs)  # one mapping per exercise
    for exercise, muscles in expected.items():
        assert mapping[exercise] == muscles

    warm = sets["is_warmup"]
    assert 0.02 < warm.mean() < 0.3
    block = sets.groupby(["workout_id", "exercise"], observed=True)
    lightest_work = (
        sets[~warm].groupby(["workout_id", "exercise"], observed=True)["weight_kg"].min()
    )
    warm_w = sets[warm].set_index(["workout_id", "exercise"])["weight_kg"]
    assert (warm_w < lightest_work.reindex(warm_w.index)).all()
    assert block.ngroups > 0

    # slow progression: estimated 1RM drifts up per user and exercise
    starts = w[["id", "user_id", "started_at"]].rename(columns={"id": "workout_id"})
    m = sets[~warm & (sets["weight_kg"] > 0)].merge(starts, on="workout_id")
    m["e1rm"] = m["weight_kg"] * (1 + m["reps"] / 30)
    m["day"] = (m["started_at"] - m["started_at"].min()).dt.days
    heavy = m[m["exercise"].isin(["squat", "bench press", "deadlift"])]
    slopes = (
        heavy.groupby(["user_id", "exercise"], observed=True)
        .apply(
            lambda g: (
                np.polyfit(g["day"], np.log(g["e1rm"]), 1)[0] if g["day"].nunique() >= 8 else np.nan
            ),
            include_groups=False,
        )
        .dropna()
    )
    assert len(slopes) > 100
    assert slopes.median() > 0 and (slopes > 0).mean() > 0.65


def test_weigh_in_trends_and_noise(demo: dict[str, pd.DataFrame]) -> None:
    personas = demo["personas"].set_index("user_id")
    bw = demo["body_weight_logs"]
    with_scale = bw["user_id"].nunique() / len(personas)
    assert 0.45 < with_scale < 0.7
    counts = bw.groupby("user_id").size()
    assert (counts < 8).sum() > 10  # some users weigh in too rarely for a prediction
    assert (counts > 60).sum() > 50  # and some nearly every day
    days = (bw["measured_at"] - pd.Timestamp(NOW)).dt.total_seconds() / 86400

    fits = []
    for uid, idx in bw.groupby("user_id").groups.items():
        x, y = days.loc[idx].to_numpy(), bw.loc[idx, "weight_kg"].to_numpy()
        if len(x) < 15 or x.max() - x.min() < 21:
            continue
        slope, intercept = np.polyfit(x, y, 1)
        resid_sd = float(np.std(y - (slope * x + intercept), ddof=2))
        fits.append(
            (
                uid,
                personas.loc[uid, "weight_trend"],
                slope * 7,
                resid_sd,
                personas.loc[uid, "weight_slope_kg_per_week"],
            )
        )
    fit = pd.DataFrame(fits, columns=["user_id", "trend", "slope", "sd", "true"])
    losing, gaining, stable = (fit[fit["trend"] == t] for t in ("losing", "gaining", "stable"))
    assert len(losing) > 50 and len(gaining) > 20 and len(stable) > 50
    assert (losing["slope"] < 0).mean() > 0.95
    assert -0.8 < losing["slope"].median() < -0.3
    assert (gaining["slope"] > 0).mean() > 0.8
    assert 0.1 < gaining["slope"].median() < 0.3
    assert abs(stable["slope"].median()) < 0.05
    assert 0.3 < fit["sd"].median() < 0.5
    assert (np.abs(fit["slope"] - fit["true"]) < 0.35).mean() > 0.9


def test_coach_usage_is_skewed_and_proportional(demo: dict[str, pd.DataFrame]) -> None:
    llm = demo["llm_usage_daily"]
    users = demo["users"].set_index("id")
    share = llm["user_id"].nunique() / len(users)
    assert 0.2 < share < 0.7
    req = llm["request_count"]
    assert (req >= 1).all()
    assert req.mean() > req.median() and req.max() >= 5 * req.median()
    per_request = llm["input_tokens"] / req
    assert per_request.between(300, 5000).all()
    assert (llm["output_tokens"] / req).between(50, 2000).all()
    created = llm["user_id"].map(users["created_at"].dt.date)
    assert (llm["usage_date"] >= created).all()
    plan_share = (
        llm.groupby(llm["user_id"].map(users["plan"]))["user_id"].nunique()
        / users["plan"].value_counts()
    )
    assert plan_share["pro"] > plan_share["free"]


# --------------------------------------------------------------------------- bad rows (frames)


def test_bad_rows_are_listed_and_present(bad_demo: dict[str, pd.DataFrame]) -> None:
    bad = bad_demo["bad_rows"].set_index("kind")
    assert list(bad.index) == list(BAD_ROW_KINDS)
    assert (bad["user_id"] > 200).all() and bad["user_id"].is_unique
    users = bad_demo["users"].set_index("id")
    w = bad_demo["workouts"].set_index("id")
    sets = bad_demo["workout_sets"].set_index("id")
    bw = bad_demo["body_weight_logs"].set_index("id")
    now = pd.Timestamp(NOW)

    def row(kind: str) -> int:
        return int(bad.loc[kind, "row_id"])

    assert users.loc[bad.loc["timezone_utc_offset", "user_id"], "timezone"] == "UTC+3"
    assert users.loc[bad.loc["timezone_abbreviation", "user_id"], "timezone"] == "IST"
    assert users.loc[bad.loc["timezone_numeric_offset", "user_id"], "timezone"] == "+05:30"
    assert users.loc[bad.loc["timezone_unknown", "user_id"], "timezone"] == "Mars/Base"
    assert users.loc[bad.loc["timezone_sql_injection", "user_id"], "timezone"] == (
        "Europe/Berlin'; DROP TABLE users; --"
    )
    assert math.isnan(bw.loc[row("body_weight_nan"), "weight_kg"])
    assert bw.loc[row("body_weight_infinite"), "weight_kg"] == math.inf
    assert bw.loc[row("body_weight_absurd"), "weight_kg"] == 9999
    assert bw.loc[row("body_weight_negative"), "weight_kg"] == -5
    assert bw.loc[row("future_weigh_in"), "measured_at"] > now + pd.Timedelta(days=300)
    assert math.isnan(sets.loc[row("set_weight_nan"), "weight_kg"])
    assert sets.loc[row("set_weight_absurd"), "weight_kg"] == 2500
    assert sets.loc[row("set_weight_negative"), "weight_kg"] == -20
    assert sets.loc[row("set_reps_absurd"), "reps"] == 1000
    assert sets.loc[row("set_reps_negative"), "reps"] == -3
    neg = w.loc[row("duration_negative")]
    assert neg["duration_seconds"] == -1800 and neg["finalized_at"] < neg["started_at"]
    assert w.loc[row("duration_absurd"), "duration_seconds"] == 3 * 86400
    assert w.loc[row("future_finalized"), "finalized_at"] > now + pd.Timedelta(days=300)
    assert w.loc[row("session_rpe_out_of_range"), "session_rpe"] == 15
    dup = w.loc[row("duplicate_workout")]
    same = w[(w["user_id"] == dup["user_id"]) & (w["started_at"] == dup["started_at"])]
    assert len(same) == 2
    original = same.drop(index=row("duplicate_workout")).iloc[0]
    assert original.equals(dup)
    copied = sets[sets["workout_id"] == row("duplicate_workout")].reset_index(drop=True)
    source = sets[sets["workout_id"] == same.index.min()].reset_index(drop=True)
    assert len(copied) > 0
    pd.testing.assert_frame_equal(
        copied.drop(columns="workout_id"), source.drop(columns="workout_id")
    )
    # each bad user is otherwise an ordinary, active pro user
    for uid in bad["user_id"]:
        assert users.loc[uid, "plan"] == "pro"
        recent = bad_demo["workouts"][
            (bad_demo["workouts"]["user_id"] == uid)
            & (bad_demo["workouts"]["started_at"] > now - pd.Timedelta(days=10))
        ]
        assert len(recent) >= 1
    # without bad rows none of this exists (checked by the shape tests above)
    assert list(bad.loc[~bad["sqlite_writable"]].index) == ["body_weight_nan", "set_weight_nan"]


# --------------------------------------------------------------------------- writing


def _count(conn: sa.Connection, table: str) -> int:
    return int(conn.execute(sa.text(f'SELECT count(*) FROM "{table}"')).scalar_one())


def test_write_demo_round_trips(db_engine: sa.Engine) -> None:
    frames = generate_demo(DemoConfig(users=50, days=60, seed=8), now=NOW)
    calls: list[tuple[str, int, int]] = []
    counts = write_demo(
        db_engine, frames, progress=lambda t, d, n: calls.append((t, d, n)), chunk_rows=2000
    )
    assert counts == {name: len(frames[name]) for name in APP_TABLES}
    # FK order, chunked progress ending at the total
    order = list(dict.fromkeys(t for t, _, _ in calls))
    assert order.index("users") < order.index("workouts") < order.index("workout_sets")
    set_calls = [(d, n) for t, d, n in calls if t == "workout_sets"]
    assert len(set_calls) == math.ceil(len(frames["workout_sets"]) / 2000) > 1
    assert [d for d, _ in set_calls] == sorted(d for d, _ in set_calls)
    assert set_calls[-1] == (len(frames["workout_sets"]),) * 2

    with db_engine.connect() as conn:
        for name in APP_TABLES:
            assert _count(conn, name) == len(frames[name]), name
        users = Base.metadata.tables["users"]
        rows = {r.id: r for r in conn.execute(sa.select(users))}
        frame = frames["users"].set_index("id")
        for uid, r in rows.items():
            expected_tz = frame.loc[uid, "timezone"]
            assert r.timezone == (None if pd.isna(expected_tz) else expected_tz)
            assert r.created_at == frame.loc[uid, "created_at"].to_pydatetime()
            assert r.birth_date == frame.loc[uid, "birth_date"]
        wt = Base.metadata.tables["workouts"]
        got = {r.id: r for r in conn.execute(sa.select(wt))}
        for rec in frames["workouts"].itertuples():
            r = got[rec.id]
            assert r.started_at == rec.started_at.to_pydatetime()
            assert r.status == rec.status
            assert (r.finalized_at is None) == pd.isna(rec.finalized_at)
        volume = conn.execute(
            sa.text(
                "SELECT sum(reps * weight_kg), sum(CASE WHEN is_warmup THEN 1 ELSE 0 END) FROM workout_sets"
            )
        ).one()
        s = frames["workout_sets"]
        assert volume[0] == pytest.approx(float((s["reps"] * s["weight_kg"]).sum()), rel=1e-6)
        assert volume[1] == int(s["is_warmup"].sum())
        usage = conn.execute(
            sa.text(
                "SELECT min(usage_date), max(usage_date), sum(input_tokens) FROM llm_usage_daily"
            )
        ).one()
        assert str(usage[0]) == str(frames["llm_usage_daily"]["usage_date"].min())
        assert int(usage[2]) == int(frames["llm_usage_daily"]["input_tokens"].sum())

    # the app can go on inserting without an id (sequences moved past the demo ids)
    with db_engine.begin() as conn:
        new_id = conn.execute(
            sa.insert(Base.metadata.tables["users"])
            .values(email="late@example.com", plan="free", created_at=NOW)
            .returning(Base.metadata.tables["users"].c.id)
        ).scalar_one()
    assert new_id > frames["users"]["id"].max()
    # seeding twice into the same ids is refused up front
    with pytest.raises(ValueError, match="already has rows"):
        write_demo(db_engine, frames)


def test_write_demo_writes_the_bad_rows(db_engine: sa.Engine) -> None:
    frames = generate_demo(DemoConfig(users=30, days=60, seed=4, with_bad_rows=True), now=NOW)
    bad = frames["bad_rows"].set_index("kind")
    counts = write_demo(db_engine, frames)
    postgres = db_engine.dialect.name == "postgresql"
    skipped = 0 if postgres else 1  # SQLite cannot hold a NaN in a NOT NULL REAL column
    assert counts["body_weight_logs"] == len(frames["body_weight_logs"]) - skipped
    assert counts["workout_sets"] == len(frames["workout_sets"]) - skipped
    assert counts["workouts"] == len(frames["workouts"])

    def uid(kind: str) -> int:
        return int(bad.loc[kind, "user_id"])

    def rid(kind: str) -> int:
        return int(bad.loc[kind, "row_id"])

    def scalar(conn: sa.Connection, sql: str, **params: object) -> object:
        return conn.execute(sa.text(sql), params).scalar()

    with db_engine.connect() as conn:
        invalid = conn.execute(
            sa.text(
                "SELECT id, timezone FROM users WHERE timezone IN ('UTC+3', 'IST', '+05:30', 'Mars/Base') ORDER BY id"
            )
        ).all()
        assert [r.id for r in invalid] == [uid(k) for k in BAD_ROW_KINDS[:4]]
        sql_tz = scalar(
            conn, "SELECT timezone FROM users WHERE id = :i", i=uid("timezone_sql_injection")
        )
        assert sql_tz == "Europe/Berlin'; DROP TABLE users; --"
        assert _count(conn, "users") == len(frames["users"])  # still there
        assert scalar(conn, "SELECT user_id FROM workouts WHERE duration_seconds < 0") == uid(
            "duration_negative"
        )
        assert scalar(conn, "SELECT id FROM workouts WHERE duration_seconds >= 86400") == rid(
            "duration_absurd"
        )
        future = (
            conn.execute(
                sa.text("SELECT id FROM workouts WHERE finalized_at > :t"),
                {"t": NOW + dt.timedelta(days=300)},
            )
            .scalars()
            .all()
        )
        assert future == [rid("future_finalized")]
        assert scalar(conn, "SELECT id FROM workouts WHERE session_rpe > 10") == rid(
            "session_rpe_out_of_range"
        )
        dups = conn.execute(
            sa.text(
                "SELECT user_id, count(*) FROM workouts GROUP BY user_id, status, started_at, finalized_at,"
                " duration_seconds, session_rpe HAVING count(*) > 1"
            )
        ).all()
        assert [(r[0], r[1]) for r in dups] == [(uid("duplicate_workout"), 2)]
        absurd = conn.execute(
            sa.text(
                "SELECT id, weight_kg FROM body_weight_logs WHERE weight_kg > 500 OR weight_kg < 0 ORDER BY id"
            )
        ).all()
        # (PostgreSQL orders NaN above every number: leave it to the NaN check below)
        assert {r.id: r.weight_kg for r in absurd if not math.isnan(r.weight_kg)} == {
            rid("body_weight_infinite"): math.inf,
            rid("body_weight_absurd"): 9999,
            rid("body_weight_negative"): -5,
        }
        assert (
            scalar(
                conn, "SELECT weight_kg FROM workout_sets WHERE id = :i", i=rid("set_weight_absurd")
            )
            == 2500
        )
        assert (
            scalar(conn, "SELECT reps FROM workout_sets WHERE id = :i", i=rid("set_reps_negative"))
            == -3
        )
        nan_bw = scalar(
            conn, "SELECT weight_kg FROM body_weight_logs WHERE id = :i", i=rid("body_weight_nan")
        )
        nan_set = scalar(
            conn, "SELECT weight_kg FROM workout_sets WHERE id = :i", i=rid("set_weight_nan")
        )
        if postgres:
            assert isinstance(nan_bw, float) and math.isnan(nan_bw)
            assert isinstance(nan_set, float) and math.isnan(nan_set)
        else:
            assert nan_bw is None and nan_set is None  # rows skipped on SQLite


def test_empty_and_invalid_configs(sqlite_engine: sa.Engine) -> None:
    frames = generate_demo(DemoConfig(users=0, days=30), now=NOW)
    for name in APP_TABLES:
        assert frames[name].empty
        assert list(frames[name].columns) == [c.name for c in Base.metadata.tables[name].columns]
    assert write_demo(sqlite_engine, frames) == dict.fromkeys(APP_TABLES, 0)
    with pytest.raises(ValueError):
        generate_demo(DemoConfig(users=-1))
    with pytest.raises(ValueError):
        generate_demo(DemoConfig(users=5, days=0))
    with pytest.raises(ValueError):
        generate_demo(DemoConfig(users=5), now=dt.datetime(2026, 1, 1))  # naive


def test_small_populations_still_cover_every_category() -> None:
    frames = generate_demo(DemoConfig(users=40, days=60, seed=1), now=NOW)
    assert set(frames["personas"]["persona"]) == set(PERSONAS)
    assert set(frames["workouts"]["status"]) == set(STATUSES)
    assert set(REQUIRED_ZONES) <= set(frames["users"]["timezone"].dropna())
    assert set(frames["users"]["plan"]) == {"free", "trial", "pro"}
