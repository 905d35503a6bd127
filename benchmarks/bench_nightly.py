"""End-to-end benchmark: seed N synthetic users, run the nightly partition and a weekly
catch-up, report wall time, users/s and each phase's peak memory (RSS).

    python -m benchmarks.bench_nightly [--users 20000] [--days 120] [--chunk-size 5000]

The app database is FITNESS_TEST_POSTGRES_URL when set (``./dev bench --postgres`` starts
a throw-away server), else an SQLite file in the local data folder.  Each phase runs in
its own process so its peak RSS is its own.  The database is dropped and re-created.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
from typing import Any

from fitness_jobs.settings import data_dir

TODAY = dt.date(2026, 11, 29)
NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
PARTITION = TODAY - dt.timedelta(days=1)


def _url() -> str:
    return os.environ.get("FITNESS_TEST_POSTGRES_URL") or f"sqlite:///{data_dir() / 'bench.sqlite'}"


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def phase_seed(args: argparse.Namespace) -> dict[str, Any]:
    from fitness_jobs.db.engine import create_schema, make_engine
    from fitness_jobs.db.schema import Base
    from fitness_jobs.demo.generator import DemoConfig, generate_demo, write_demo

    engine = make_engine(_url())
    Base.metadata.drop_all(engine)
    create_schema(engine)
    started = time.perf_counter()
    frames = generate_demo(
        DemoConfig(users=args.users, seed=7, days=args.days, today=TODAY), now=NOW
    )
    generated = time.perf_counter() - started
    counts = write_demo(engine, frames)
    return {"generate_s": generated, "total_s": time.perf_counter() - started, "rows": counts}


def phase_nightly(args: argparse.Namespace) -> dict[str, Any]:
    from fitness_jobs.db.engine import make_engine
    from fitness_jobs.pipelines.nightly import run_nightly

    engine = make_engine(_url())
    started = time.perf_counter()
    report = run_nightly(engine, PARTITION, chunk_size=args.chunk_size, now=NOW)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "active_users": report.active_users,
        "written": report.written,
        "failed": len(report.failed),
        "users_per_s": report.active_users / seconds if seconds else 0.0,
        "phases_s": {k: round(v, 2) for k, v in report.timings.items()},
    }


def phase_weekly(args: argparse.Namespace) -> dict[str, Any]:
    from fitness_jobs.db.engine import make_engine
    from fitness_jobs.pipelines.weekly import latest_complete_week, run_weekly

    engine = make_engine(_url())
    week = latest_complete_week(NOW)
    started = time.perf_counter()
    run = run_weekly(engine, mode="catch_up", week=week, now=NOW)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "week": week.isoformat(),
        "written": run.written,
        "failed": len(run.failed),
        "users_per_s": run.written / seconds if seconds else 0.0,
        "phases_s": {k: round(v, 2) for k, v in run.timings.items()},
    }


PHASES = {"seed": phase_seed, "nightly": phase_nightly, "weekly": phase_weekly}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--chunk-size", type=int, default=5_000)
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--skip-seed", action="store_true", help="reuse the data of the last run")
    args = parser.parse_args()
    if args.phase:
        result = PHASES[args.phase](args)
        result["peak_rss_mib"] = round(_peak_mib(), 1)
        print(json.dumps(result, default=str))
        return 0
    backend = "postgresql" if os.environ.get("FITNESS_TEST_POSTGRES_URL") else "sqlite"
    print(
        f"benchmark: {args.users:,} users × {args.days} days on {backend}, chunk {args.chunk_size:,}"
    )
    phases = ["nightly", "weekly"] if args.skip_seed else ["seed", "nightly", "weekly"]
    for name in phases:
        cmd = [
            sys.executable,
            "-m",
            "benchmarks.bench_nightly",
            "--phase",
            name,
            "--users",
            str(args.users),
            "--days",
            str(args.days),
            "--chunk-size",
            str(args.chunk_size),
        ]
        out = (
            subprocess.run(cmd, check=True, capture_output=True, text=True)
            .stdout.strip()
            .splitlines()[-1]
        )
        print(f"  {name:8s} {json.dumps(json.loads(out))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
