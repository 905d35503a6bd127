"""``fitness-jobs db init``, ``demo seed`` and ``demo run``."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import sqlalchemy as sa

from fitness_jobs.cli import commands
from fitness_jobs.cli.database import app_engine, check_reachable, where
from fitness_jobs.cli.errors import EXIT_OK, CliUsageError
from fitness_jobs.cli.output import err

if TYPE_CHECKING:
    from fitness_jobs.demo.generator import DemoConfig


def cmd_db_init(args: argparse.Namespace) -> int:
    from fitness_jobs.db.engine import create_schema

    engine = app_engine()
    check_reachable(engine)
    created = create_schema(engine)
    if created:
        print(f"created {len(created)} table(s) in {where(engine)}: {', '.join(created)}")
    else:
        print(f"schema already up to date in {where(engine)}")
    return EXIT_OK


def seed_demo_data(
    engine: sa.Engine, config: DemoConfig, progress: Callable[[str, int, int], None]
) -> dict[str, int]:
    """Generate and write the demo data, streaming; returns rows written per table.

    ``seed_demo`` holds a few blocks of users at a time (memory does not grow with
    ``--users``) and, on PostgreSQL, bulk-loads in one transaction; ``progress`` gets
    ``("users", written, total)`` and then ``("indexes", rebuilt, total)``.
    """
    from fitness_jobs.demo.seed import seed_demo

    return seed_demo(engine, config, progress=progress)


def seed_progress() -> Callable[[str, int, int], None]:
    """Progress lines for ``seed_demo_data``, at most two a second, and the last of each stage."""
    last = [0.0]
    units = {"users": "users written", "indexes": "indexes and constraints rebuilt"}

    def progress(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if done >= total or now - last[0] > 0.5:
            last[0] = now
            err(f"seeding: {done:,}/{total:,} {units.get(stage, stage)}")

    return progress


def _users_present(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT COUNT(*) FROM users")).scalar_one())


def cmd_demo_seed(args: argparse.Namespace) -> int:
    from fitness_jobs.db.engine import create_schema
    from fitness_jobs.demo.generator import DemoConfig

    engine = app_engine()
    check_reachable(engine)
    create_schema(engine)
    existing = _users_present(engine)
    if existing:
        raise CliUsageError(
            f"the app database {where(engine)} already has {existing:,} users: demo data "
            "uses fixed ids, so seed an empty database (`demo run --reseed` starts over on SQLite)"
        )
    config = DemoConfig(
        users=args.users,
        seed=args.seed,
        days=args.days,
        today=args.today,
        with_bad_rows=args.with_bad_rows,
        first_user_id=args.first_user_id,
    )
    ending = f"ending {args.today}" if args.today else "ending today"
    err(f"generating {args.users:,} users × {args.days} days {ending} (seed {args.seed}) …")
    started = time.perf_counter()
    counts = seed_demo_data(engine, config, seed_progress())
    summary = ", ".join(f"{table} {n:,}" for table, n in counts.items())
    print(f"seeded in {time.perf_counter() - started:.1f}s: {summary}")
    return EXIT_OK


def cmd_demo_run(args: argparse.Namespace) -> int:
    """The README's main command: schema, demo data (once), the latest nightly partition and
    the last complete week's reports, through Dagster, with a summary (and a sample report
    with ``--show-sample``)."""
    from fitness_jobs.core.windows import latest_complete_week
    from fitness_jobs.db.engine import create_schema
    from fitness_jobs.db.schema import Base
    from fitness_jobs.pipelines.nightly import default_partition

    engine = app_engine()
    check_reachable(engine)
    if args.reseed:
        if engine.dialect.name != "sqlite":
            raise CliUsageError(
                "--reseed drops tables; it only works on the embedded SQLite database, "
                f"not {where(engine)}"
            )
        Base.metadata.drop_all(engine)
    create_schema(engine)
    existing = _users_present(engine)
    print(f"app database: {where(engine)}")
    if existing:
        print(f"demo data already present ({existing:,} users); --reseed starts over")
    else:
        seed = argparse.Namespace(
            users=args.users,
            seed=args.seed,
            days=args.days,
            today=None,
            with_bad_rows=args.with_bad_rows,
            first_user_id=1,
        )
        cmd_demo_seed(seed)
    now = commands.utc_now()
    print()
    nightly = argparse.Namespace(
        partition=default_partition(now), limit=None, chunk_size=None, quiet=True
    )
    nightly_code = commands.cmd_nightly(nightly)
    print()
    weekly = argparse.Namespace(
        week=latest_complete_week(now),
        at=None,
        regenerate=False,
        user_id=None,
        chunk_size=None,
        show_sample=args.show_sample,
        quiet=True,
    )
    weekly_code = commands.cmd_weekly(weekly)
    print()
    print("open the UI with `./dev ui` (http://127.0.0.1:3000): these runs are in its history")
    return max(nightly_code, weekly_code)
