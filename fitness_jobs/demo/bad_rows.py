"""Bad input on purpose (``with_bad_rows``): one extra user per kind in ``BAD_ROW_KINDS``.

The bad-row users come after every ordinary user (ids ``first_user_id + users …``, and
their workouts, sets and weigh-ins after all the others), drawn from their own stream,
so the ordinary users' rows are identical with and without them.  Each is a consistent
pro user with an ordinary history (at least 28 days) plus exactly one bad thing, so a
test can assert that precisely that user fails (invalid time zone) or that the one row
is excluded.  The ``bad_rows`` frame lists ``user_id, kind, table, row_id, column,
value, sqlite_writable``.

NaN and infinity: PostgreSQL ``real`` keeps NaN and ±Infinity, and the writers write
them as such.  SQLite stores a NaN REAL as NULL; ``workout_sets.weight_kg`` and
``body_weight_logs.weight_kg`` are NOT NULL, so on SQLite such a row cannot exist and
is skipped (``sqlite_writable = False``).  SQLite does store ±Infinity.  Integer columns
cannot hold NaN on either backend, so bad reps are absurd or negative numbers instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from fitness_jobs.demo.catalog import BAD_ROW_KINDS, BAD_TIMEZONES
from fitness_jobs.demo.config import Calendar, DemoConfig, bad_rows_seed
from fitness_jobs.demo.frames import Ids, block_frames


def bad_rows_block(
    config: DemoConfig, cal: Calendar, ids: Ids
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """The bad-row users' frames (ids from ``ids``) and the ``bad_rows`` frame."""
    # the zone each bad user really lives in (west, east, 45-minute, DST)
    spread = ("Europe/Berlin", "America/New_York", "Asia/Kathmandu", "Australia/Sydney")
    zones = [
        BAD_TIMEZONES[kind][1] if kind in BAD_TIMEZONES else spread[i % len(spread)]
        for i, kind in enumerate(BAD_ROW_KINDS)
    ]
    bad_cal = Calendar(
        today=cal.today,
        days=max(cal.days, 28),
        start_day=cal.start_day + cal.days - max(cal.days, 28),
        now_us=cal.now_us,
    )
    frames = block_frames(bad_rows_seed(config.seed), len(BAD_ROW_KINDS), bad_cal, ids, zones)
    return frames, inject_bad_rows(frames, cal)


def inject_bad_rows(frames: dict[str, pd.DataFrame], cal: Calendar) -> pd.DataFrame:
    """Put one bad thing on each user of the bad block (in place); returns ``bad_rows``."""
    # Any: scalar .loc reads and writes of mixed types are beyond pandas-stubs
    users: Any = frames["users"]
    workouts: Any = frames["workouts"]
    sets: Any = frames["workout_sets"]
    bw: Any = frames["body_weight_logs"]
    now = pd.Timestamp(cal.now_us, unit="us", tz="UTC")
    records: list[dict[str, Any]] = []

    def note(
        uid: int,
        kind: str,
        table: str,
        row_id: int,
        column: str,
        value: Any,
        sqlite_writable: bool = True,
    ) -> None:
        records.append(
            {
                "user_id": uid,
                "kind": kind,
                "table": table,
                "row_id": row_id,
                "column": column,
                "value": str(value),
                "sqlite_writable": sqlite_writable,
            }
        )

    def completed_workout(uid: int, min_age: pd.Timedelta) -> int:
        """Row position of the user's latest completed workout finalized before now − min_age."""
        cand = workouts.index[
            (workouts["user_id"] == uid)
            & (workouts["status"] == "completed")
            & (workouts["finalized_at"] <= now - min_age)
        ]
        # one with sets, so set-level kinds can pick one of its working sets
        with_sets = cand[workouts.loc[cand, "id"].isin(sets["workout_id"])]
        return int((with_sets if len(with_sets) else cand)[-1])

    new_workouts: list[pd.DataFrame] = []
    new_sets: list[pd.DataFrame] = []
    new_bw: list[pd.DataFrame] = []
    next_workout = int(workouts["id"].max()) + 1
    next_set = int(sets["id"].max()) + 1
    next_bw = int(bw["id"].max()) + 1

    value: Any
    for pos, kind in enumerate(BAD_ROW_KINDS):
        uid = int(users["id"].iloc[pos])
        if kind in BAD_TIMEZONES:
            value = BAD_TIMEZONES[kind][0]
            users.loc[users.index[pos], "timezone"] = value
            note(uid, kind, "users", uid, "timezone", value)
        elif kind.startswith("body_weight_"):
            value = {
                "body_weight_nan": float("nan"),
                "body_weight_infinite": float("inf"),
                "body_weight_absurd": 9999.0,
                "body_weight_negative": -5.0,
            }[kind]
            row = bw.index[bw["user_id"] == uid][-2]
            bw.loc[row, "weight_kg"] = value
            note(
                uid,
                kind,
                "body_weight_logs",
                int(bw.loc[row, "id"]),
                "weight_kg",
                value,
                sqlite_writable=kind != "body_weight_nan",
            )
        elif kind.startswith("set_"):
            w_pos = completed_workout(uid, pd.Timedelta(days=1))
            wid = int(workouts.loc[w_pos, "id"])
            row = sets.index[(sets["workout_id"] == wid) & ~sets["is_warmup"]][0]
            column, value = {
                "set_weight_nan": ("weight_kg", float("nan")),
                "set_weight_absurd": ("weight_kg", 2500.0),
                "set_weight_negative": ("weight_kg", -20.0),
                "set_reps_absurd": ("reps", 1000),
                "set_reps_negative": ("reps", -3),
            }[kind]
            sets.loc[row, column] = value
            note(
                uid,
                kind,
                "workout_sets",
                int(sets.loc[row, "id"]),
                column,
                value,
                sqlite_writable=kind != "set_weight_nan",
            )
        elif kind == "duration_negative":
            w_pos = completed_workout(uid, pd.Timedelta(days=1))
            workouts.loc[w_pos, "duration_seconds"] = -1800
            workouts.loc[w_pos, "finalized_at"] = workouts.loc[w_pos, "started_at"] - pd.Timedelta(
                seconds=1800
            )
            note(uid, kind, "workouts", int(workouts.loc[w_pos, "id"]), "duration_seconds", -1800)
        elif kind == "duration_absurd":
            w_pos = completed_workout(uid, pd.Timedelta(days=4))
            workouts.loc[w_pos, "duration_seconds"] = 3 * 86_400
            workouts.loc[w_pos, "finalized_at"] = workouts.loc[w_pos, "started_at"] + pd.Timedelta(
                days=3
            )
            note(
                uid,
                kind,
                "workouts",
                int(workouts.loc[w_pos, "id"]),
                "duration_seconds",
                3 * 86_400,
            )
        elif kind == "session_rpe_out_of_range":
            w_pos = completed_workout(uid, pd.Timedelta(days=1))
            workouts.loc[w_pos, "session_rpe"] = 15
            note(uid, kind, "workouts", int(workouts.loc[w_pos, "id"]), "session_rpe", 15)
        elif kind in ("future_finalized", "duplicate_workout"):
            w_pos = completed_workout(uid, pd.Timedelta(days=1))
            copy = workouts.loc[[w_pos]].copy()
            src_id = int(copy["id"].iloc[0])
            copy["id"] = next_workout
            if kind == "future_finalized":
                shift = pd.Timedelta(weeks=53)  # same weekday and local hour, next year
                copy["started_at"] = copy["started_at"] + shift
                copy["finalized_at"] = copy["finalized_at"] + shift
                column, value = "finalized_at", copy["finalized_at"].iloc[0].isoformat()
            else:
                column, value = "id", f"copy of workout {src_id}"
            copied_sets = sets[sets["workout_id"] == src_id].copy()
            copied_sets["id"] = np.arange(next_set, next_set + len(copied_sets), dtype=np.int64)
            copied_sets["workout_id"] = next_workout
            new_workouts.append(copy)
            new_sets.append(copied_sets)
            note(uid, kind, "workouts", next_workout, column, value)
            next_workout += 1
            next_set += len(copied_sets)
        elif kind == "future_weigh_in":
            last = bw[bw["user_id"] == uid].iloc[[-1]].copy()
            last["id"] = next_bw
            last["measured_at"] = last["measured_at"] + pd.Timedelta(days=365)
            new_bw.append(last)
            note(
                uid,
                kind,
                "body_weight_logs",
                next_bw,
                "measured_at",
                last["measured_at"].iloc[0].isoformat(),
            )
            next_bw += 1
        else:  # pragma: no cover - BAD_ROW_KINDS and this function go together
            raise AssertionError(kind)

    frames["workouts"] = pd.concat([workouts, *new_workouts], ignore_index=True)
    frames["workout_sets"] = pd.concat([sets, *new_sets], ignore_index=True)
    frames["body_weight_logs"] = pd.concat([bw, *new_bw], ignore_index=True)
    bad = pd.DataFrame.from_records(records)
    types: dict[str, Any] = {"user_id": np.int64, "row_id": np.int64, "sqlite_writable": bool}
    types.update(dict.fromkeys(("kind", "table", "column", "value"), object))
    return bad.astype(types)


def empty_bad_rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": pd.Series(dtype=np.int64),
            "kind": pd.Series(dtype=object),
            "table": pd.Series(dtype=object),
            "row_id": pd.Series(dtype=np.int64),
            "column": pd.Series(dtype=object),
            "value": pd.Series(dtype=object),
            "sqlite_writable": pd.Series(dtype=bool),
        }
    )
