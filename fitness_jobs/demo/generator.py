"""The demo generator's public API in one place (kept for existing imports).

The implementation is split by topic inside ``fitness_jobs.demo``:

* ``config``       ``DemoConfig``, ``BLOCK_USERS``, per-block random streams, the calendar
* ``catalog``      personas, plans, statuses, time zones, exercises, bad-row kinds
* ``population``   users, profiles, personas and habits; their history in ``workouts``,
  ``sets``, ``weigh_ins`` and ``coach_usage``; ``frames`` lays one block out as frames
* ``bad_rows``     the ``with_bad_rows`` users;  ``generate``: ``generate_demo``, blocks
* ``seed``         ``seed_demo``: streaming into a database (what the CLI calls)
* ``write``        ``write_demo`` (frames → tables) and the per-frame writers under both
* ``columns``, ``pg_copy``, ``pg_load``, ``prefetch``: typed columns, binary COPY,
  PostgreSQL bulk loading, background generation
"""

from __future__ import annotations

from fitness_jobs.demo.catalog import (
    BAD_ROW_KINDS,
    BAD_TIMEZONES,
    EXERCISE_MUSCLES,
    EXERCISES,
    P_CHURNED,
    P_CONSISTENT,
    P_LAPSING,
    P_NEW,
    P_RETURNING,
    PERSONA_WEIGHTS,
    PERSONAS,
    PL_FREE,
    PL_PRO,
    PL_TRIAL,
    PLAN_WEIGHTS,
    PLANS,
    REQUIRED_ZONES,
    S_ABANDONED,
    S_COMPLETED,
    S_IN_PROGRESS,
    S_PARTIAL,
    STATUSES,
    WEIGH_FREQUENCIES,
    WEIGHT_TRENDS,
    ZONE_NAMES,
    ZONES,
)
from fitness_jobs.demo.config import (
    BLOCK_USERS,
    NAT,
    US_PER_DAY,
    US_PER_H,
    US_PER_MIN,
    US_PER_S,
    DemoConfig,
)
from fitness_jobs.demo.frames import META_FRAMES
from fitness_jobs.demo.generate import generate_demo, iter_blocks
from fitness_jobs.demo.seed import seed_demo
from fitness_jobs.demo.write import write_demo

__all__ = [
    "BAD_ROW_KINDS",
    "BAD_TIMEZONES",
    "BLOCK_USERS",
    "EXERCISES",
    "EXERCISE_MUSCLES",
    "META_FRAMES",
    "NAT",
    "PERSONAS",
    "PERSONA_WEIGHTS",
    "PLANS",
    "PLAN_WEIGHTS",
    "PL_FREE",
    "PL_PRO",
    "PL_TRIAL",
    "P_CHURNED",
    "P_CONSISTENT",
    "P_LAPSING",
    "P_NEW",
    "P_RETURNING",
    "REQUIRED_ZONES",
    "STATUSES",
    "S_ABANDONED",
    "S_COMPLETED",
    "S_IN_PROGRESS",
    "S_PARTIAL",
    "US_PER_DAY",
    "US_PER_H",
    "US_PER_MIN",
    "US_PER_S",
    "WEIGHT_TRENDS",
    "WEIGH_FREQUENCIES",
    "ZONES",
    "ZONE_NAMES",
    "DemoConfig",
    "generate_demo",
    "iter_blocks",
    "seed_demo",
    "write_demo",
]
