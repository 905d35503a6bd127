"""``build_weekly_reports``: one ``weekly_reports`` row per user for one week, vectorised.

Inputs, all for the users of one chunk (see the package docstring for the rules):

* ``users``: ``user_id``, ``tz`` (canonical IANA name), ``weekly_session_target`` and,
  optionally, ``first_session_at`` (earliest session ever, UTC; NaT when none), or
  already converted, ``first_session_local`` (``core.arrays.with_local_times``).
* ``workouts``: ``workout_id``, ``user_id``, ``status``, ``finalized_at`` (UTC),
  ``duration_seconds``, ``session_rpe``, from local day ``W − 364`` (the streak's reach;
  the volume and records need only ``W − 28``) to the end of ``W``; later ones are ignored.
  With ``finalized_day`` (``with_local_times``) the local days are taken from it.
* ``sets``: ``workout_id``, ``exercise``, ``muscle_group``, ``secondary_muscle_group``,
  ``reps``, ``weight_kg``, ``is_warmup`` of those workouts (those of the last 5 weeks
  suffice), and optionally ``summary``: true for a row standing for a whole workout's
  volume before ``W`` (``1 × volume``), which counts in the volume only.
* ``prior_best_e1rm``: ``user_id``, ``exercise``, ``best_e1rm`` before the sets supplied
  one by one (``summary`` false).
* ``metrics``: §5 metrics at ``metrics_date = W + 6`` (``ctl``, ``tsb``, ``acwr``,
  ``lapse_risk``).  A user missing from it gets ctl/tsb/acwr NaN and no lapse band (the
  caller should treat that as an error: ``ctl``/``tsb`` are NOT NULL).
* ``predictions``: :func:`fitness_jobs.core.prediction.predict_transformations` output.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from fitness_jobs.core.arrays import FIRST_SESSION_LOCAL, day_numbers_of, naive_values
from fitness_jobs.core.calendar import date_of, local_day_numbers
from fitness_jobs.core.columns import SESSION_STATUSES
from fitness_jobs.core.loads import daily_matrix, session_srpe
from fitness_jobs.core.report.adherence import (
    has_logged_session,
    logged_by_day,
    report_lapse_risk,
    streaks_ending_with_week,
    weekly_session_counts,
)
from fitness_jobs.core.report.common import (
    ACWR_SPIKE,
    HISTORY_WEEKS,
    JSON_DIGITS,
    MONOTONY_MIN_SESSIONS,
    OTHER_DIGITS,
    REPORT_COLUMNS,
    REPORT_VERSION,
    aligned,
    num,
    numeric,
    nums,
    objects,
    pct_change,
    text,
    whole,
)
from fitness_jobs.core.report.text import summary_text
from fitness_jobs.core.report.training import (
    SessionSets,
    hard_sets_by_row,
    lifts_and_records,
    volume_by_week,
)
from fitness_jobs.core.targets import weekly_targets

_INT_MIN = np.iinfo(np.int64).min


def build_weekly_reports(
    users: pd.DataFrame,
    week_start_day: int,
    workouts: pd.DataFrame,
    sets: pd.DataFrame,
    prior_best_e1rm: pd.DataFrame,
    metrics: pd.DataFrame,
    predictions: pd.DataFrame,
) -> pd.DataFrame:
    """One weekly report row per user of ``users`` for the week starting ``week_start_day``.

    Inputs are described in the module docstring, the rules in the package docstring and
    design §6; the output has exactly the columns ``REPORT_COLUMNS``.
    """
    w = int(week_start_day)
    u = users.reset_index(drop=True)
    n = len(u)
    user_index = pd.Index(u["user_id"])
    tz = u["tz"].astype(object).to_numpy()
    targets = weekly_targets(u["weekly_session_target"])

    # ---- workouts → (user row, local day relative to W)
    wk_row = user_index.get_indexer(workouts["user_id"])
    base_keep = (wk_row >= 0) & workouts["finalized_at"].notna().to_numpy()
    wk = workouts.loc[base_keep]
    wk_row = wk_row[base_keep]
    if "finalized_day" in wk.columns:  # converted already (core.arrays.with_local_times)
        wk_day = wk["finalized_day"].to_numpy(dtype=np.int64)
    else:
        wk_day = local_day_numbers(
            wk["finalized_at"], pd.Series(tz[wk_row], index=wk.index, dtype=object)
        )
    keep = (wk_day != _INT_MIN) & (wk_day <= w + 6)
    wk = wk.loc[keep]
    wk_row = wk_row[keep]
    wk_rel = wk_day[keep] - w
    status = wk["status"].astype(str).to_numpy()
    in_week = wk_rel >= 0
    is_session = np.isin(status, SESSION_STATUSES)

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(wk_row[mask], minlength=n).astype(np.int64)

    completed = count(in_week & (status == "completed"))
    partial = count(in_week & (status == "partial"))
    abandoned = count(in_week & (status == "abandoned"))
    sessions = completed + partial
    finalized_total = completed + partial + abandoned
    with np.errstate(divide="ignore", invalid="ignore"):
        completion_rate = np.where(
            finalized_total > 0, completed / np.maximum(finalized_total, 1), np.nan
        )

    # ---- daily loads and monotony
    week_sessions = in_week & is_session
    srpe = session_srpe(
        pd.to_numeric(wk["session_rpe"], errors="coerce").to_numpy(dtype=float),
        pd.to_numeric(wk["duration_seconds"], errors="coerce").to_numpy(dtype=float),
    )
    s_rows, s_rels = wk_row[week_sessions], wk_rel[week_sessions]
    daily_load = daily_matrix(s_rows, s_rels, srpe[week_sessions], n, 7)
    daily_sessions = daily_matrix(s_rows, s_rels, np.ones(s_rows.size), n, 7)
    srpe_load = daily_load.sum(axis=1)
    mean_load = daily_load.mean(axis=1)
    sd_load = daily_load.std(axis=1)  # population SD
    with np.errstate(divide="ignore", invalid="ignore"):
        monotony = np.where(
            (sessions >= MONOTONY_MIN_SESSIONS) & (sd_load > 1e-9 * np.maximum(1.0, mean_load)),
            mean_load / np.where(sd_load > 0, sd_load, 1.0),
            np.nan,
        )

    # ---- training: volume, hard sets, lifts and records (sets of sessions)
    ss = SessionSets.of(
        sets, wk["workout_id"].to_numpy()[is_session], wk_row[is_session], wk_rel[is_session]
    )
    volume_weeks = volume_by_week(ss, n)
    volume = volume_weeks[:, HISTORY_WEEKS]
    volume_prev = volume_weeks[:, HISTORY_WEEKS - 1]
    volume_4w = volume_weeks[:, :HISTORY_WEEKS].mean(axis=1)
    change_prev = pct_change(volume, volume_prev)
    change_4w = pct_change(volume, volume_4w)
    hard_by_row = hard_sets_by_row(ss)
    lifts = lifts_and_records(ss, w, user_index, prior_best_e1rm)

    # ---- streak and lapse band as of the end of W; the other §5 quantities at W + 6
    weeks = weekly_session_counts(wk_row[is_session], wk_rel[is_session], n)
    streak, previous_streak = streaks_ending_with_week(weeks, targets)
    sessions_in_frame = np.bincount(wk_row[is_session], minlength=n)
    if FIRST_SESSION_LOCAL in u.columns:  # converted already
        first_day = day_numbers_of(naive_values(u[FIRST_SESSION_LOCAL]))
        logged = logged_by_day(sessions_in_frame, first_day, w)
    else:
        first_session = u["first_session_at"] if "first_session_at" in u.columns else None
        logged = has_logged_session(sessions_in_frame, first_session, tz, w)
    met = aligned(metrics, user_index)
    ctl = numeric(met, "ctl")
    tsb = numeric(met, "tsb")
    acwr = numeric(met, "acwr")
    lapse = report_lapse_risk(objects(met, "lapse_risk"), logged)
    acwr_flag = np.full(n, None, dtype=object)
    acwr_flag[acwr > ACWR_SPIKE] = "spike"

    pred = aligned(predictions, user_index)
    pred_status = objects(pred, "status")
    pred_ok = pred_status == "ok"
    trend_weight = np.where(pred_ok, numeric(pred, "trend_weight_kg"), np.nan)
    weekly_change = np.where(pred_ok, numeric(pred, "rate_kg_per_week"), np.nan)
    prediction_docs = _prediction_dicts(pred, pred_status)

    # ---- assemble
    columns: dict[str, Any] = {
        "user_id": u["user_id"].to_numpy(),
        "week_start": [date_of(w)] * n,
        "report_version": np.full(n, REPORT_VERSION, dtype=np.int64),
        "timezone": tz,
        "sessions": sessions,
        "session_target": targets,
        "completion_rate": completion_rate,
        "volume_load_kg": volume,
        "volume_change_pct_prev_week": change_prev,
        "volume_change_pct_4w_avg": change_4w,
        "srpe_load": srpe_load,
        "ctl": ctl,
        "tsb": tsb,
        "acwr": acwr,
        "acwr_flag": acwr_flag,
        "monotony": monotony,
        "streak_weeks": streak,
        "lapse_risk": lapse,
        "trend_weight_kg": trend_weight,
        "weight_change_kg_per_week": weekly_change,
        "prediction_status": pred_status,
    }
    week_dates = [date_of(w + d).isoformat() for d in range(7)]
    volume_week_starts = [date_of(w - 7 * k).isoformat() for k in range(HISTORY_WEEKS, -1, -1)]
    user_ids = [int(uid) for uid in u["user_id"].tolist()]  # ids never pass through float

    # Every float of the documents rounded column by column, not value by value.
    rounded = {name: nums(columns[name], digits) for name, digits in JSON_DIGITS.items()}
    volume_prev_r, volume_4w_r = nums(volume_prev, 2), nums(volume_4w, 2)
    volume_weeks_r = _rows_of(nums(volume_weeks.ravel(), 2), volume_weeks.shape[1])
    daily_load_r = _rows_of(nums(daily_load.ravel(), 2), daily_load.shape[1])

    def ints(values: Any) -> list[Any]:
        return np.asarray(values).astype(np.int64).tolist()  # as int(): whole part

    daily_sessions_i = ints(daily_sessions)
    sessions_i, targets_i = ints(sessions), ints(targets)
    completed_i, partial_i, abandoned_i = ints(completed), ints(partial), ints(abandoned)
    streak_i, previous_i = ints(streak), ints(previous_streak)
    logged_b = np.asarray(logged, dtype=bool).tolist()

    def real(name: str, i: int) -> float | None:
        return rounded[name][i]

    reports: list[dict[str, Any]] = []
    for i in range(n):
        report: dict[str, Any] = {
            "user_id": user_ids[i],
            "week_start": week_dates[0],
            "week_end": week_dates[-1],
            "report_version": REPORT_VERSION,
            "timezone": text(tz[i]),
            "sessions": sessions_i[i],
            "session_target": targets_i[i],
            "target_met": sessions_i[i] >= targets_i[i],
            "workouts_by_status": {
                "completed": completed_i[i],
                "partial": partial_i[i],
                "abandoned": abandoned_i[i],
            },
            "completion_rate": real("completion_rate", i),
            "volume_load_kg": real("volume_load_kg", i),
            "volume_load_prev_week_kg": volume_prev_r[i],
            "volume_load_4w_avg_kg": volume_4w_r[i],
            "volume_change_pct_prev_week": real("volume_change_pct_prev_week", i),
            "volume_change_pct_4w_avg": real("volume_change_pct_4w_avg", i),
            "volume_by_week": [
                {"week_start": ws, "volume_load_kg": v}
                for ws, v in zip(volume_week_starts, volume_weeks_r[i], strict=True)
            ],
            "hard_sets": hard_by_row.get(i, []),
            "top_lifts": lifts.top.get(i, []),
            "personal_records": lifts.records.get(i, []),
            "first_time_exercises": sorted(lifts.first_time.get(i, [])),
            "srpe_load": real("srpe_load", i),
            "daily_loads": [
                {"date": day, "sessions": count, "srpe_load": load}
                for day, count, load in zip(
                    week_dates, daily_sessions_i[i], daily_load_r[i], strict=True
                )
            ],
            "monotony": real("monotony", i),
            "ctl": real("ctl", i),
            "tsb": real("tsb", i),
            "acwr": real("acwr", i),
            "acwr_flag": acwr_flag[i],
            "streak_weeks": streak_i[i],
            "previous_streak_weeks": previous_i[i],
            "lapse_risk": text(lapse[i]),
            "has_logged_session": logged_b[i],
            "trend_weight_kg": real("trend_weight_kg", i),
            "weight_change_kg_per_week": real("weight_change_kg_per_week", i),
            "prediction_status": text(pred_status[i]),
            "prediction": prediction_docs[i],
        }
        report["summary_text"] = summary_text(report)
        reports.append(report)

    columns["report"] = reports
    columns["summary_text"] = [r["summary_text"] for r in reports]
    out = pd.DataFrame(
        {
            name: values
            if isinstance(values, np.ndarray) and values.dtype != object
            else pd.Series(list(values), dtype=object)  # object keeps None, not NaN
            for name, values in columns.items()
        },
        columns=REPORT_COLUMNS,
    )
    return out


def _rows_of(flat: list[Any], width: int) -> list[list[Any]]:
    """A row-major flat list cut into rows of ``width``."""
    return [flat[start : start + width] for start in range(0, len(flat), width)]


def _prediction_dicts(pred: pd.DataFrame, status: np.ndarray) -> list[dict[str, Any] | None]:
    """Each row's prediction as a JSON-ready dict (None where ``status`` is None), built
    column by column: flags as a list of strings, ``status``/``method`` as text,
    ``weigh_in_count`` as a whole number, other numbers rounded, strings as they are."""
    keys = [str(key) for key in pred.columns]
    columns: list[list[Any]] = []
    for key, name in zip(keys, pred.columns, strict=True):
        column = pred[name]
        if key == "flags":
            columns.append(
                [
                    [str(f) for f in v] if isinstance(v, list | tuple) else []
                    for v in column.tolist()
                ]
            )
        elif key in ("status", "method"):
            columns.append([text(v) for v in column.tolist()])
        elif key == "weigh_in_count":
            columns.append([whole(v) or 0 for v in column.tolist()])
        elif pd.api.types.is_numeric_dtype(column.dtype):
            columns.append(nums(column.to_numpy(dtype=float), OTHER_DIGITS))
        else:
            columns.append(
                [v if isinstance(v, str) or v is None else num(v) for v in column.tolist()]
            )
    rows = list(zip(*columns, strict=True)) if columns else [()] * len(pred)
    return [
        dict(zip(keys, values, strict=True)) if s is not None else None
        for values, s in zip(rows, status.tolist(), strict=True)
    ]
