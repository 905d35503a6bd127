"""Weekly training report (DESIGN §6), vectorised over users.

``build_weekly_reports`` turns one week's worth of workouts, sets, nightly metrics and
transformation predictions into one row per user: the queryable columns of
``weekly_reports``, the whole report as a JSON-ready dict and a short human summary.

Semantics (where DESIGN leaves room):

* A workout's day is the local date of ``finalized_at`` in the user's zone.  Sessions are
  ``completed`` + ``partial``; the completion rate is completed / (completed + partial +
  abandoned) over the week, ``None`` when 0.  Only sessions' sets count (volume, hard sets,
  lifts, records); ``prior_best_e1rm`` should follow the same rule.
* Volume load = Σ reps × weight_kg over working (non-warm-up) sets.  Changes are
  ``100·(this − base)/base`` against the previous week and against the mean of the 4 weeks
  before ``W`` (weeks without sessions count as 0); ``None`` when the base is 0.
* Hard sets: working sets, 1 for the primary muscle group and 0.5 for the secondary one.
  Bands: ``low`` < 5 ≤ ``moderate`` < 10 ≤ ``recommended`` ≤ 20 < ``high``.
* e1RM (Epley): ``w`` at 1 rep, ``w·(1 + r/30)`` for 2–10 reps; warm-ups, sets over 10 reps
  and sets without a positive weight are ignored.  Top lifts: best set per exercise in the
  week, the 5 best.  A personal record is a week best strictly above (by more than 1e-9 kg)
  every earlier best: ``prior_best_e1rm`` (before the workouts frame) and the frame's own
  earlier days (local day < W).  No earlier history → ``first_time``, never a record.
* Monotony = mean / population SD of the 7 daily sRPE loads, only with ≥ 4 sessions;
  ``None`` when the SD is 0.
* CTL, TSB, ACWR, streak and lapse band come from ``metrics`` (evaluated at W + 6).  A user
  missing from it gets ctl/tsb/acwr NaN, streak 0 and lapse_risk None (the caller should
  treat that as an error: the table's columns are NOT NULL).
* Trend weight and weekly change come from the prediction; ``None`` unless its status is
  ``ok``.

Nothing here imports dagster or touches a database.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from fitness_jobs.core.calendar import date_of, local_day_numbers
from fitness_jobs.core.loads import daily_matrix, session_srpe

REPORT_VERSION = 1
DEFAULT_SESSION_TARGET = 3
SESSION_STATUSES = ("completed", "partial")
ACWR_SPIKE = 1.5
MONOTONY_MIN_SESSIONS = 4
HIGH_MONOTONY = 2.0  # Foster: monotony above 2 goes with strain and illness
HISTORY_WEEKS = 4
TOP_LIFTS = 5
MAX_E1RM_REPS = 10
PR_EPSILON_KG = 1e-9
SECONDARY_WEIGHT = 0.5

REPORT_COLUMNS: list[str] = [
    "user_id",
    "week_start",
    "report_version",
    "timezone",
    "sessions",
    "session_target",
    "completion_rate",
    "volume_load_kg",
    "volume_change_pct_prev_week",
    "volume_change_pct_4w_avg",
    "srpe_load",
    "ctl",
    "tsb",
    "acwr",
    "acwr_flag",
    "monotony",
    "streak_weeks",
    "lapse_risk",
    "trend_weight_kg",
    "weight_change_kg_per_week",
    "prediction_status",
    "report",
    "summary_text",
]

_INT_MIN = np.iinfo(np.int64).min


# --------------------------------------------------------------------------- small helpers


def hard_set_band(sets: float) -> str:
    """Weekly hard-set band: low < 5 ≤ moderate < 10 ≤ recommended ≤ 20 < high."""
    if sets < 5:
        return "low"
    if sets < 10:
        return "moderate"
    if sets <= 20:
        return "recommended"
    return "high"


def epley_e1rm(weight_kg: np.ndarray, reps: np.ndarray) -> np.ndarray:
    """Epley e1RM per set: ``w`` at 1 rep, ``w·(1 + r/30)`` for 2–10 reps, NaN otherwise."""
    w = np.asarray(weight_kg, dtype=float)
    r = np.asarray(reps, dtype=float)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(w) & (w > 0) & np.isfinite(r) & (r >= 1) & (r <= MAX_E1RM_REPS)
        return np.where(valid, np.where(r == 1, w, w * (1.0 + r / 30.0)), np.nan)


def _num(value: Any, ndigits: int = 3) -> float | None:
    """A plain rounded float, or None for missing / non-finite values."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(f):
        return None
    return round(f, ndigits)


def _int(value: Any) -> int | None:
    f = _num(value, 6)
    return None if f is None else round(f)


def _str(value: Any) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def _pct_change(current: np.ndarray, base: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(base > 0, 100.0 * (current - base) / np.where(base > 0, base, 1.0), np.nan)


def _numeric(frame: pd.DataFrame, name: str) -> np.ndarray:
    """A float column of ``frame`` (NaN when the column is absent)."""
    if name not in frame.columns:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)


def _objects(frame: pd.DataFrame, name: str) -> np.ndarray:
    """An object column of ``frame`` with missing values as None (all None when absent)."""
    if name not in frame.columns:
        return np.full(len(frame), None, dtype=object)
    col = frame[name].astype(object)
    return col.where(col.notna(), None).to_numpy(dtype=object)


def _working(is_warmup: pd.Series) -> np.ndarray:
    warm = is_warmup.astype(object).where(is_warmup.notna(), False).astype(bool)
    return ~warm.to_numpy(dtype=bool)


def _muscle(values: np.ndarray) -> np.ndarray:
    """Muscle-group names stripped; missing or blank → None (one pass per distinct value)."""
    codes, uniques = pd.factorize(pd.Series(values, dtype=object))
    cleaned = [u.strip() or None if isinstance(u, str) else None for u in uniques]
    return np.asarray([*cleaned, None], dtype=object)[codes]  # code −1 (missing) → None


# --------------------------------------------------------------------------- builder


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

    Inputs and output are described in the module docstring and DESIGN §6; the output has
    exactly the columns ``REPORT_COLUMNS``.
    """
    w = int(week_start_day)
    u = users.reset_index(drop=True)
    n = len(u)
    user_index = pd.Index(u["user_id"])
    tz = u["tz"].astype(object).to_numpy()
    targets = (
        pd.to_numeric(u["weekly_session_target"], errors="coerce")
        .fillna(DEFAULT_SESSION_TARGET)
        .round()
        .astype(np.int64)
        .to_numpy()
    )

    # ---- workouts → (user row, local day relative to W)
    wk_row = user_index.get_indexer(workouts["user_id"])
    finalized = workouts["finalized_at"]
    base_keep = (wk_row >= 0) & finalized.notna().to_numpy()
    wk = workouts.loc[base_keep]
    wk_row = wk_row[base_keep]
    wk_tz = pd.Series(tz[wk_row], index=wk.index, dtype=object)
    wk_day = local_day_numbers(wk["finalized_at"], wk_tz)
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

    week_sessions = in_week & is_session
    srpe = session_srpe(
        pd.to_numeric(wk["session_rpe"], errors="coerce").to_numpy(dtype=float),
        pd.to_numeric(wk["duration_seconds"], errors="coerce").to_numpy(dtype=float),
    )
    daily_load = daily_matrix(
        wk_row[week_sessions], wk_rel[week_sessions], srpe[week_sessions], n, 7
    )
    daily_sessions = daily_matrix(
        wk_row[week_sessions], wk_rel[week_sessions], np.ones(int(week_sessions.sum())), n, 7
    )
    srpe_load = daily_load.sum(axis=1)
    mean_load = daily_load.mean(axis=1)
    sd_load = daily_load.std(axis=1)  # population SD
    with np.errstate(divide="ignore", invalid="ignore"):
        monotony = np.where(
            (sessions >= MONOTONY_MIN_SESSIONS) & (sd_load > 1e-9 * np.maximum(1.0, mean_load)),
            mean_load / np.where(sd_load > 0, sd_load, 1.0),
            np.nan,
        )

    # ---- sets of sessions
    sess = pd.DataFrame(
        {
            "workout_id": wk["workout_id"].to_numpy()[is_session],
            "row": wk_row[is_session],
            "rel": wk_rel[is_session],
        }
    ).drop_duplicates("workout_id")
    set_pos = pd.Index(sess["workout_id"]).get_indexer(sets["workout_id"])
    sset = sets.loc[set_pos >= 0]
    set_pos = set_pos[set_pos >= 0]
    s_row = sess["row"].to_numpy()[set_pos]
    s_rel = sess["rel"].to_numpy()[set_pos]
    reps = pd.to_numeric(sset["reps"], errors="coerce").to_numpy(dtype=float)
    weight = pd.to_numeric(sset["weight_kg"], errors="coerce").to_numpy(dtype=float)
    working = _working(sset["is_warmup"])
    s_week = s_rel >= 0

    # volume by week: columns W−28 … W (week offsets −4 … 0)
    vol = np.where(working, reps * weight, 0.0)
    vol = np.where(np.isfinite(vol), vol, 0.0)
    in_hist = s_rel >= -7 * HISTORY_WEEKS
    week_col = np.floor_divide(s_rel, 7) + HISTORY_WEEKS
    volume_weeks = daily_matrix(
        s_row[in_hist], week_col[in_hist], vol[in_hist], n, HISTORY_WEEKS + 1
    )
    volume = volume_weeks[:, HISTORY_WEEKS]
    volume_prev = volume_weeks[:, HISTORY_WEEKS - 1]
    volume_4w = volume_weeks[:, :HISTORY_WEEKS].mean(axis=1)
    change_prev = _pct_change(volume, volume_prev)
    change_4w = _pct_change(volume, volume_4w)

    # hard sets per muscle group (this week, working sets)
    hs_mask = working & s_week
    primary = pd.DataFrame(
        {
            "row": s_row[hs_mask],
            "muscle": _muscle(sset["muscle_group"].to_numpy()[hs_mask]),
            "sets": 1.0,
        }
    )
    secondary = pd.DataFrame(
        {
            "row": s_row[hs_mask],
            "muscle": _muscle(sset["secondary_muscle_group"].to_numpy()[hs_mask]),
            "sets": SECONDARY_WEIGHT,
        }
    )
    hard = pd.concat([primary, secondary], ignore_index=True)
    hard = hard[hard["muscle"].notna()]
    hard = hard.groupby(["row", "muscle"], sort=False)["sets"].sum().reset_index()
    hard = hard.sort_values(["row", "sets", "muscle"], ascending=[True, False, True])
    hard_by_row: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r, muscle, n_sets in hard[["row", "muscle", "sets"]].itertuples(index=False, name=None):
        hard_by_row[int(r)].append(
            {
                "muscle_group": str(muscle),
                "hard_sets": float(n_sets),
                "band": hard_set_band(float(n_sets)),
            }
        )

    # e1RM: week bests, earlier bests, records
    e1 = epley_e1rm(weight, reps)
    lift_mask = working & np.isfinite(e1)
    lifts = pd.DataFrame(
        {
            "row": s_row[lift_mask],
            "rel": s_rel[lift_mask],
            "exercise": sset["exercise"].astype(str).to_numpy()[lift_mask],
            "e1rm": e1[lift_mask],
            "weight_kg": weight[lift_mask],
            "reps": reps[lift_mask],
        }
    )
    earlier = lifts[lifts["rel"] < 0].groupby(["row", "exercise"])["e1rm"].max()
    prior_row = user_index.get_indexer(prior_best_e1rm["user_id"])
    prior = pd.DataFrame(
        {
            "row": prior_row,
            "exercise": prior_best_e1rm["exercise"].astype(str).to_numpy(),
            "e1rm": pd.to_numeric(prior_best_e1rm["best_e1rm"], errors="coerce").to_numpy(
                dtype=float
            ),
        }
    )
    prior = prior[(prior["row"] >= 0) & np.isfinite(prior["e1rm"].to_numpy())]
    previous = (
        pd.concat([earlier.reset_index(), prior], ignore_index=True)
        .groupby(["row", "exercise"])["e1rm"]
        .max()
        .rename("previous_best")
    )
    best = (
        lifts[lifts["rel"] >= 0]
        .sort_values(
            ["row", "exercise", "e1rm", "weight_kg", "rel"],
            ascending=[True, True, False, False, True],
        )
        .drop_duplicates(["row", "exercise"])
    )
    best = best.join(previous, on=["row", "exercise"])
    best["first_time"] = best["previous_best"].isna()
    best["personal_record"] = best["previous_best"].notna() & (
        best["e1rm"] > best["previous_best"] + PR_EPSILON_KG
    )
    best = best.sort_values(["row", "e1rm", "exercise"], ascending=[True, False, True])
    best["rank"] = best.groupby("row").cumcount()

    top_by_row: dict[int, list[dict[str, Any]]] = defaultdict(list)
    pr_by_row: dict[int, list[dict[str, Any]]] = defaultdict(list)
    first_by_row: dict[int, list[str]] = defaultdict(list)
    for r, rel, exercise, e1rm, wkg, rp, prev, first, pr, rank in best[
        [
            "row",
            "rel",
            "exercise",
            "e1rm",
            "weight_kg",
            "reps",
            "previous_best",
            "first_time",
            "personal_record",
            "rank",
        ]
    ].itertuples(index=False, name=None):
        r = int(r)
        entry = {
            "exercise": str(exercise),
            "e1rm_kg": _num(e1rm),
            "weight_kg": _num(wkg),
            "reps": int(rp),
            "date": date_of(w + int(rel)).isoformat(),
            "previous_best_e1rm_kg": _num(prev),
            "personal_record": bool(pr),
            "first_time": bool(first),
        }
        if rank < TOP_LIFTS:
            top_by_row[r].append(entry)
        if pr:
            pr_by_row[r].append({**entry, "improvement_kg": _num(e1rm - prev)})
        if first:
            first_by_row[r].append(str(exercise))

    # ---- metrics and predictions aligned on users
    met = _aligned(metrics, user_index)
    ctl = _numeric(met, "ctl")
    tsb = _numeric(met, "tsb")
    acwr = _numeric(met, "acwr")
    streak_f = _numeric(met, "current_streak_weeks")
    streak = np.where(np.isfinite(streak_f), streak_f, 0).astype(np.int64)
    lapse = _objects(met, "lapse_risk")
    acwr_flag = np.full(n, None, dtype=object)
    acwr_flag[acwr > ACWR_SPIKE] = "spike"

    pred = _aligned(predictions, user_index)
    pred_status = _objects(pred, "status")
    pred_ok = pred_status == "ok"
    trend_weight = np.where(pred_ok, _numeric(pred, "trend_weight_kg"), np.nan)
    weekly_change = np.where(pred_ok, _numeric(pred, "rate_kg_per_week"), np.nan)
    pred_records = pred.to_dict("records")

    # ---- assemble
    week_start = date_of(w)
    week_dates = [date_of(w + d).isoformat() for d in range(7)]
    volume_week_starts = [date_of(w - 7 * k).isoformat() for k in range(HISTORY_WEEKS, -1, -1)]
    user_ids = u["user_id"].tolist()
    reports: list[dict[str, Any]] = []
    summaries: list[str] = []
    for i in range(n):
        prediction = _prediction_dict(pred_records[i]) if pred_status[i] is not None else None
        report: dict[str, Any] = {
            "user_id": user_ids[i] if isinstance(user_ids[i], str) else _int(user_ids[i]),
            "week_start": week_start.isoformat(),
            "week_end": week_dates[-1],
            "report_version": REPORT_VERSION,
            "timezone": _str(tz[i]),
            "sessions": int(sessions[i]),
            "session_target": int(targets[i]),
            "target_met": bool(sessions[i] >= targets[i]),
            "workouts_by_status": {
                "completed": int(completed[i]),
                "partial": int(partial[i]),
                "abandoned": int(abandoned[i]),
            },
            "completion_rate": _num(completion_rate[i], 4),
            "volume_load_kg": _num(volume[i], 2),
            "volume_load_prev_week_kg": _num(volume_prev[i], 2),
            "volume_load_4w_avg_kg": _num(volume_4w[i], 2),
            "volume_change_pct_prev_week": _num(change_prev[i], 2),
            "volume_change_pct_4w_avg": _num(change_4w[i], 2),
            "volume_by_week": [
                {"week_start": ws, "volume_load_kg": _num(volume_weeks[i, k], 2)}
                for k, ws in enumerate(volume_week_starts)
            ],
            "hard_sets": hard_by_row.get(i, []),
            "top_lifts": top_by_row.get(i, []),
            "personal_records": pr_by_row.get(i, []),
            "first_time_exercises": sorted(first_by_row.get(i, [])),
            "srpe_load": _num(srpe_load[i], 2),
            "daily_loads": [
                {
                    "date": week_dates[d],
                    "sessions": int(daily_sessions[i, d]),
                    "srpe_load": _num(daily_load[i, d], 2),
                }
                for d in range(7)
            ],
            "monotony": _num(monotony[i], 4),
            "ctl": _num(ctl[i], 3),
            "tsb": _num(tsb[i], 3),
            "acwr": _num(acwr[i], 4),
            "acwr_flag": acwr_flag[i],
            "streak_weeks": int(streak[i]),
            "lapse_risk": _str(lapse[i]),
            "trend_weight_kg": _num(trend_weight[i], 3),
            "weight_change_kg_per_week": _num(weekly_change[i], 3),
            "prediction_status": _str(pred_status[i]),
            "prediction": prediction,
        }
        summary = summary_text(report)
        report["summary_text"] = summary
        reports.append(report)
        summaries.append(summary)

    def obj(values: Any) -> pd.Series:
        # object dtype keeps None (pandas would infer a string dtype with NaN)
        return pd.Series(list(values), dtype=object)

    out = pd.DataFrame(
        {
            "user_id": u["user_id"].to_numpy(),
            "week_start": obj([week_start] * n),
            "report_version": np.full(n, REPORT_VERSION, dtype=np.int64),
            "timezone": obj(tz),
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
            "acwr_flag": obj(acwr_flag),
            "monotony": monotony,
            "streak_weeks": streak,
            "lapse_risk": obj(lapse),
            "trend_weight_kg": trend_weight,
            "weight_change_kg_per_week": weekly_change,
            "prediction_status": obj(pred_status),
            "report": obj(reports),
            "summary_text": obj(summaries),
        },
        columns=REPORT_COLUMNS,
    )
    return out


def _aligned(frame: pd.DataFrame, user_index: pd.Index) -> pd.DataFrame:
    """``frame`` (one row per ``user_id``) reindexed on ``user_index``; missing users → NaN."""
    if "user_id" not in frame.columns:
        return pd.DataFrame(index=range(len(user_index)))
    return (
        frame.drop_duplicates("user_id")
        .set_index("user_id")
        .reindex(user_index)
        .reset_index(drop=True)
    )


def _prediction_dict(record: Mapping[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for raw_key, value in record.items():
        key = str(raw_key)
        if key == "flags":
            out[key] = [str(f) for f in value] if isinstance(value, list | tuple) else []
        elif key in ("status", "method"):
            out[key] = _str(value)
        elif key == "weigh_in_count":
            out[key] = _int(value) or 0
        elif isinstance(value, str) or value is None:
            out[key] = value
        else:
            out[key] = _num(value, 3)
    return out


# --------------------------------------------------------------------------- text


def _minus(value: float, fmt: str) -> str:
    """Signed number with a typographic minus (``−0.4``) and an explicit ``+``."""
    text = format(abs(value), fmt)
    if float(text) == 0:
        return text
    return ("−" if value < 0 else "+") + text


def _sets(value: float) -> str:
    return f"{value:g}"


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _weeks(n: int) -> str:
    return "1 week" if n == 1 else f"{n} weeks"


def summary_text(report: Mapping[str, Any]) -> str:
    """A short, specific paragraph built from a report dict (no names, no email)."""
    parts: list[str] = []
    n = int(report.get("sessions") or 0)
    target = int(report.get("session_target") or DEFAULT_SESSION_TARGET)
    streak = int(report.get("streak_weeks") or 0)

    if n == 0:
        parts.append(
            f"No sessions were logged this week (target {target}). That's okay: rest weeks "
            "happen, and one short session in the week ahead is a great way back in."
        )
    else:
        times = "once" if n == 1 else ("twice" if n == 2 else f"{n} times")
        text = f"You trained {times} this week (target {target})"
        if n >= target and streak >= 2:
            text += f", a {streak}-week streak."
        elif n >= target:
            text += ", target met."
        else:
            short = target - n
            text += f", {'one session' if short == 1 else f'{short} sessions'} short."
        parts.append(text)

    volume = report.get("volume_load_kg") or 0.0
    if volume > 0:
        change = report.get("volume_change_pct_prev_week")
        if change is None:
            text = f"Volume load was {volume:,.0f} kg"
        elif round(change) == 0:
            text = f"Volume held steady at {volume:,.0f} kg"
        elif change > 0:
            text = f"Volume rose {change:.0f}% to {volume:,.0f} kg"
        else:
            text = f"Volume fell {abs(change):.0f}% to {volume:,.0f} kg"
        hard = list(report.get("hard_sets") or [])
        clauses: list[str] = []
        recommended = [h for h in hard if h["band"] == "recommended"][:2]
        high = [h for h in hard if h["band"] == "high"][:1]
        low = sorted((h for h in hard if h["band"] == "low"), key=lambda h: h["hard_sets"])[:2]
        if len(recommended) == 1:
            h = recommended[0]
            clauses.append(
                f"{h['muscle_group']} hit the recommended {_sets(h['hard_sets'])} hard sets"
            )
        elif recommended:
            names = _join([h["muscle_group"] for h in recommended])
            counts = _join([_sets(h["hard_sets"]) for h in recommended])
            clauses.append(f"{names} hit the recommended range ({counts} hard sets)")
        clauses += [
            f"{h['muscle_group']} went above 20 hard sets ({_sets(h['hard_sets'])})" for h in high
        ]
        clauses += [
            f"{h['muscle_group']} got just {_sets(h['hard_sets'])} hard "
            f"set{'s' if h['hard_sets'] != 1 else ''}"
            for h in low
        ]
        parts.append(text + ("; " + _join(clauses) if clauses else "") + ".")

    records = list(report.get("personal_records") or [])
    if records:
        records.sort(key=lambda p: -(p["e1rm_kg"] or 0.0))
        shown = [f"{p['exercise']} e1RM {p['e1rm_kg']:.1f} kg" for p in records[:3]]
        label = "New best" if len(records) == 1 else "New bests"
        parts.append(f"{label}: {_join(shown)}.")
    else:
        firsts = [t for t in report.get("top_lifts") or [] if t.get("first_time")]
        if firsts:
            shown = [f"{t['exercise']} e1RM {t['e1rm_kg']:.1f} kg" for t in firsts[:2]]
            parts.append(f"First logged: {_join(shown)}, a baseline to beat.")

    if report.get("acwr_flag") == "spike" and report.get("acwr") is not None:
        parts.append(
            f"Your load jumped this week (ACWR {report['acwr']:.2f}); an easier day or two "
            "will help you absorb it."
        )
    monotony = report.get("monotony")
    if monotony is not None and monotony > HIGH_MONOTONY:
        parts.append(
            f"Your days were very alike in load (monotony {monotony:.1f}); mixing harder and "
            "easier days helps recovery."
        )

    prediction = report.get("prediction") or None
    if prediction is not None:
        flags = prediction.get("flags") or []
        trend = prediction.get("trend_weight_kg")
        rate = prediction.get("rate_kg_per_week")
        if prediction.get("status") == "ok" and trend is not None and rate is not None:
            if "stable" in flags:
                text = (
                    f"Trend weight {trend:.1f} kg, holding steady ({_minus(rate, '.1f')} kg/week)."
                )
            else:
                text = f"Trend weight {trend:.1f} kg, {_minus(rate, '.1f')} kg/week"
                p4 = prediction.get("projected_4w_kg")
                if p4 is not None:
                    text += f"; at this pace about {p4:.1f} kg in 4 weeks"
                    if "bmi_floor" in flags:
                        text += " (projections stop at a healthy BMI of 18.5)"
                text += "."
            if "faster_than_recommended" in flags:
                if rate < 0:
                    text += " That is faster than the recommended pace of at most 1% of body weight a week."
                else:
                    text += " That is faster than the recommended gain of at most 0.5% of body weight a week."
            parts.append(text)
        elif (prediction.get("weigh_in_count") or 0) > 0:
            parts.append(
                "Weigh in on at least 8 days across this week and last to unlock your trend "
                "weight and projection."
            )
    return " ".join(parts)


def report_markdown(row: Mapping[str, Any] | pd.Series) -> str:
    """A markdown rendering of one report row (or of a report dict) for metadata previews."""
    report = row.get("report", row)
    if not isinstance(report, Mapping):
        report = dict(report)

    def val(v: Any, fmt: str = "", suffix: str = "") -> str:
        if v is None:
            return "n/a"
        return f"{format(v, fmt)}{suffix}"

    lines = [
        f"# Weekly report, week of {report.get('week_start')} ({report.get('timezone')})",
        "",
        str(report.get("summary_text") or summary_text(report)),
        "",
        "| Metric | Value |",
        "|---|---|",
        f"| Sessions | {report.get('sessions')} / target {report.get('session_target')} |",
        f"| Completion rate | {val(_pct(report.get('completion_rate')), '.0f', '%')} |",
        f"| Volume load | {val(report.get('volume_load_kg'), ',.0f', ' kg')} "
        f"(vs last week {val(report.get('volume_change_pct_prev_week'), '+.1f', '%')}, "
        f"vs 4-week avg {val(report.get('volume_change_pct_4w_avg'), '+.1f', '%')}) |",
        f"| sRPE load | {val(report.get('srpe_load'), ',.0f')} |",
        f"| CTL / TSB | {val(report.get('ctl'), '.1f')} / {val(report.get('tsb'), '.1f')} |",
        f"| ACWR | {val(report.get('acwr'), '.2f')}"
        f"{' (spike)' if report.get('acwr_flag') == 'spike' else ''} |",
        f"| Monotony | {val(report.get('monotony'), '.2f')} |",
        f"| Streak | {_weeks(int(report.get('streak_weeks') or 0))} |",
        f"| Lapse risk | {val(report.get('lapse_risk'))} |",
        f"| Trend weight | {val(report.get('trend_weight_kg'), '.1f', ' kg')} "
        f"({val(report.get('weight_change_kg_per_week'), '+.2f', ' kg/week')}) |",
    ]
    hard = report.get("hard_sets") or []
    if hard:
        lines += [
            "",
            "## Hard sets per muscle group",
            "",
            "| Muscle group | Hard sets | Band |",
            "|---|---|---|",
        ]
        lines += [f"| {h['muscle_group']} | {_sets(h['hard_sets'])} | {h['band']} |" for h in hard]
    top = report.get("top_lifts") or []
    if top:
        lines += [
            "",
            "## Top lifts",
            "",
            "| Exercise | e1RM | Best set | Date | Note |",
            "|---|---|---|---|---|",
        ]
        for t in top:
            note = "PR" if t["personal_record"] else ("first time" if t["first_time"] else "")
            lines.append(
                f"| {t['exercise']} | {t['e1rm_kg']:.1f} kg | {t['weight_kg']:g} kg × {t['reps']} "
                f"| {t['date']} | {note} |"
            )
    daily = report.get("daily_loads") or []
    if daily:
        lines += ["", "## Daily load", "", "| Date | Sessions | sRPE load |", "|---|---|---|"]
        lines += [
            f"| {d['date']} | {d['sessions']} | {val(d['srpe_load'], ',.0f')} |" for d in daily
        ]
    prediction = report.get("prediction")
    if prediction:
        lines += ["", "## Transformation prediction", ""]
        lines.append(
            f"Status **{prediction.get('status')}** ({prediction.get('weigh_in_count')} weigh-ins, "
            f"method {prediction.get('method')})."
        )
        if prediction.get("status") == "ok":
            lines += ["", "| Horizon | Projected | Band |", "|---|---|---|"]
            for h in ("4w", "8w", "12w"):
                lines.append(
                    f"| {h} | {val(prediction.get(f'projected_{h}_kg'), '.1f', ' kg')} | "
                    f"{val(prediction.get(f'projected_{h}_kg_low'), '.1f')} to "
                    f"{val(prediction.get(f'projected_{h}_kg_high'), '.1f', ' kg')} |"
                )
            lines.append("")
            lines.append(f"τ = {val(prediction.get('tau_days'), '.0f')} days.")
        flags = prediction.get("flags") or []
        if flags:
            lines.append(f"Flags: {', '.join(flags)}.")
    return "\n".join(lines) + "\n"


def _pct(fraction: float | None) -> float | None:
    return None if fraction is None else 100.0 * fraction
