"""The demo data's fixed vocabularies: personas, plans, statuses, time zones, exercises
and the kinds of bad rows.

Everything here is a constant; changing a value or an order changes the generated data
(category codes index these tuples).  The workout templates (push / pull / legs) and the
exercise table are what ``sets`` draws from; ``ZONES`` weights the users' time zones;
``BAD_ROW_KINDS`` and ``BAD_TIMEZONES`` define the extra users of ``with_bad_rows``
(see ``bad_rows``).
"""

from __future__ import annotations

import numpy as np

PERSONAS: tuple[str, ...] = ("consistent", "lapsing", "new", "returning", "churned")
PERSONA_WEIGHTS = (0.40, 0.15, 0.12, 0.13, 0.20)
P_CONSISTENT, P_LAPSING, P_NEW, P_RETURNING, P_CHURNED = range(5)

STATUSES: tuple[str, ...] = ("completed", "partial", "abandoned", "in_progress")
S_COMPLETED, S_PARTIAL, S_ABANDONED, S_IN_PROGRESS = range(4)

PLANS: tuple[str, ...] = ("free", "trial", "pro")
PLAN_WEIGHTS = (0.50, 0.20, 0.30)
PL_FREE, PL_TRIAL, PL_PRO = range(3)

WEIGHT_TRENDS: tuple[str, ...] = ("losing", "gaining", "stable")
WEIGH_FREQUENCIES: tuple[str, ...] = ("daily", "weekly", "sparse")

# (zone, relative weight).  Every zone appears at least once when users >= len(ZONES).
ZONES: tuple[tuple[str, float], ...] = (
    ("UTC", 5),
    ("Europe/London", 8),
    ("Europe/Berlin", 8),
    ("Europe/Paris", 5),
    ("Europe/Madrid", 3),
    ("Europe/Moscow", 2),
    ("America/New_York", 10),
    ("America/Chicago", 5),
    ("America/Denver", 2),
    ("America/Phoenix", 1),
    ("America/Los_Angeles", 8),
    ("America/Toronto", 3),
    ("America/Mexico_City", 2),
    ("America/Sao_Paulo", 4),
    ("America/Santiago", 2),
    ("America/St_Johns", 1),
    ("Asia/Kolkata", 6),
    ("Asia/Tokyo", 4),
    ("Asia/Shanghai", 2),
    ("Asia/Singapore", 2),
    ("Asia/Dubai", 2),
    ("Asia/Kathmandu", 1),
    ("Asia/Tehran", 1),
    ("Asia/Jakarta", 1),
    ("Australia/Sydney", 3),
    ("Australia/Adelaide", 1),
    ("Australia/Lord_Howe", 1),
    ("Pacific/Auckland", 2),
    ("Pacific/Chatham", 1),
    ("Pacific/Kiritimati", 1),
    ("Pacific/Pago_Pago", 1),
    ("Pacific/Honolulu", 1),
    ("Africa/Lagos", 1),
    ("Africa/Johannesburg", 1),
)
ZONE_NAMES: tuple[str, ...] = tuple(z for z, _ in ZONES)
ZONE_INDEX = {z: i for i, z in enumerate(ZONE_NAMES)}
REQUIRED_ZONES: tuple[str, ...] = (
    "Asia/Kathmandu",
    "Pacific/Chatham",
    "America/St_Johns",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
    "Australia/Lord_Howe",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "Australia/Sydney",
    "America/Santiago",
    "UTC",
    "Europe/London",
    "Asia/Tokyo",
    "Asia/Kolkata",
    "America/Sao_Paulo",
)

_COMPOUND, _ACCESSORY, _BODYWEIGHT = range(3)

COMPOUND, ACCESSORY, BODYWEIGHT = range(3)
# name, primary muscle, secondary muscle, reference e1RM (kg, trained man), plate step, kind
EXERCISES: tuple[tuple[str, str, str | None, float, float, int], ...] = (
    ("bench press", "chest", "triceps", 95.0, 2.5, COMPOUND),
    ("overhead press", "shoulders", "triceps", 60.0, 2.5, COMPOUND),
    ("incline dumbbell press", "chest", "shoulders", 34.0, 2.0, ACCESSORY),
    ("dip", "triceps", "chest", 30.0, 2.5, BODYWEIGHT),
    ("lateral raise", "shoulders", None, 14.0, 1.0, ACCESSORY),
    ("triceps pushdown", "triceps", None, 45.0, 2.5, ACCESSORY),
    ("deadlift", "hamstrings", "back", 150.0, 2.5, COMPOUND),
    ("pull-up", "back", "biceps", 30.0, 2.5, BODYWEIGHT),
    ("barbell row", "back", "biceps", 85.0, 2.5, COMPOUND),
    ("lat pulldown", "back", "biceps", 75.0, 2.5, ACCESSORY),
    ("face pull", "shoulders", "back", 32.0, 2.5, ACCESSORY),
    ("biceps curl", "biceps", None, 22.0, 1.0, ACCESSORY),
    ("squat", "quads", "glutes", 125.0, 2.5, COMPOUND),
    ("romanian deadlift", "hamstrings", "glutes", 110.0, 2.5, COMPOUND),
    ("lunge", "quads", "glutes", 34.0, 2.0, ACCESSORY),
    ("leg press", "quads", "glutes", 200.0, 5.0, COMPOUND),
    ("leg curl", "hamstrings", None, 55.0, 2.5, ACCESSORY),
    ("hip thrust", "glutes", "hamstrings", 130.0, 5.0, COMPOUND),
    ("calf raise", "calves", None, 90.0, 5.0, ACCESSORY),
)
EXERCISE_MUSCLES: dict[str, tuple[str, str | None]] = {e[0]: (e[1], e[2]) for e in EXERCISES}
EX_NAMES = [e[0] for e in EXERCISES]
MUSCLES = sorted({e[1] for e in EXERCISES} | {e[2] for e in EXERCISES if e[2] is not None})
EX_PRIMARY = np.array([MUSCLES.index(e[1]) for e in EXERCISES], dtype=np.int64)
EX_SECONDARY = np.array(
    [MUSCLES.index(e[2]) if e[2] is not None else -1 for e in EXERCISES], dtype=np.int64
)
EX_BASE = np.array([e[3] for e in EXERCISES])
EX_STEP = np.array([e[4] for e in EXERCISES])
EX_KIND = np.array([e[5] for e in EXERCISES], dtype=np.int64)
# push / pull / legs, in session order
TEMPLATES = (list(range(0, 6)), list(range(6, 12)), list(range(12, 19)))
TEMPLATE_LEN = np.array([len(t) for t in TEMPLATES], dtype=np.int64)
TEMPLATE_TABLE = np.full((len(TEMPLATES), int(TEMPLATE_LEN.max())), -1, dtype=np.int64)
for _i, _t in enumerate(TEMPLATES):
    TEMPLATE_TABLE[_i, : len(_t)] = _t


# One extra user per kind; see ``bad_rows``.
BAD_ROW_KINDS: tuple[str, ...] = (
    "timezone_utc_offset",  # 'UTC+3'
    "timezone_abbreviation",  # 'IST'
    "timezone_numeric_offset",  # '+05:30'
    "timezone_unknown",  # 'Mars/Base'
    "timezone_sql_injection",  # "Europe/Berlin'; DROP TABLE users; --"
    "body_weight_nan",
    "body_weight_infinite",
    "body_weight_absurd",  # 9999 kg
    "body_weight_negative",  # -5 kg
    "set_weight_nan",
    "set_weight_absurd",  # 2500 kg
    "set_weight_negative",  # -20 kg
    "set_reps_absurd",  # 1000 reps
    "set_reps_negative",  # -3 reps
    "duration_negative",  # -1800 s, finalized 30 min before started
    "duration_absurd",  # 3 days
    "future_finalized",  # a completed workout next year
    "future_weigh_in",  # a weigh-in next year
    "session_rpe_out_of_range",  # 15
    "duplicate_workout",  # exact copy (with its sets) under a new id
)
BAD_TIMEZONES: dict[str, tuple[str, str]] = {
    # kind: (stored value, zone the user really lives in, used to generate the history)
    "timezone_utc_offset": ("UTC+3", "Europe/Moscow"),
    "timezone_abbreviation": ("IST", "Asia/Kolkata"),
    "timezone_numeric_offset": ("+05:30", "Asia/Kolkata"),
    "timezone_unknown": ("Mars/Base", "UTC"),
    "timezone_sql_injection": ("Europe/Berlin'; DROP TABLE users; --", "Europe/Berlin"),
}
