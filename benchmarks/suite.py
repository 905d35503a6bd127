"""The benchmark suite: ours end to end through Dagster, the per-user baseline and the I/O
floor, measured in one run on the same data; results in ``benchmarks/results/``.

    python -m benchmarks.suite                  # 2k and 10k users (./dev bench)
    python -m benchmarks.suite --big            # and 100k users (minutes), with a profile
    python -m benchmarks.suite --smoke          # 2k users, quick; checks the results' shape

The app database is ``FITNESS_TEST_POSTGRES_URL`` (``./dev bench`` starts a throw-away
PostgreSQL) and is dropped and re-seeded for each size.  Every measurement runs in its own
process, so its peak RSS is its own.  Speed targets are read off these results, never
asserted in tests: this machine is shared and noisy, so compare ratios measured in one run.
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
from pathlib import Path
from typing import Any

TODAY = dt.date(2026, 11, 29)  # the demo data ends here; fixed, so runs are comparable
NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
PARTITION = TODAY - dt.timedelta(days=1)
WEEK = dt.date(2026, 11, 16)
RESULTS = Path(__file__).parent / "results"
BASELINE_SAMPLE = 2_000  # above 10k users the baseline is sampled and extrapolated
SMOKE_BASELINE_SAMPLE = 200


def _url() -> str:
    url = os.environ.get("FITNESS_TEST_POSTGRES_URL")
    if not url:
        raise SystemExit("set FITNESS_TEST_POSTGRES_URL (./dev bench starts a throw-away server)")
    return url


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# --------------------------------------------------------------------------- phases


def phase_seed(users: int) -> dict[str, Any]:
    from fitness_jobs.db.engine import create_schema, make_engine
    from fitness_jobs.db.schema import Base
    from fitness_jobs.demo.config import DemoConfig
    from fitness_jobs.demo.seed import seed_demo

    engine = make_engine(_url())
    Base.metadata.drop_all(engine)
    create_schema(engine)
    started = time.perf_counter()
    rows = seed_demo(engine, DemoConfig(users=users, seed=7, today=TODAY), now=NOW)
    return {"seconds": time.perf_counter() - started, "rows": sum(rows.values())}


def _execute(job_name: str, partition_key: str) -> tuple[float, dict[str, Any]]:
    import dagster as dg

    from fitness_jobs.definitions import build_definitions

    os.environ["FITNESS_DATABASE_URL"] = _url()
    job = build_definitions().resolve_job_def(job_name)
    started = time.perf_counter()
    result = job.execute_in_process(
        partition_key=partition_key, instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
    )
    seconds = time.perf_counter() - started
    metadata: dict[str, Any] = {}
    for event in result.get_asset_materialization_events():
        metadata.update({k: v.value for k, v in event.materialization.metadata.items()})
    keep = (
        "active_users",
        "eligible_due_users",
        "written_users",
        "written_reports",
        "failed_users",
    )
    phases = ("read_seconds", "validate_seconds", "compute_seconds", "write_seconds")
    out = {k: metadata[k] for k in keep if k in metadata}
    out["phases"] = {k: metadata[k] for k in phases if k in metadata}
    out["success"] = result.success
    return seconds, out


def phase_nightly(users: int) -> dict[str, Any]:
    seconds, out = _execute("nightly_metrics_job", PARTITION.isoformat())
    return {"seconds": seconds, **out}


def phase_weekly(users: int) -> dict[str, Any]:
    seconds, out = _execute("weekly_reports_job", WEEK.isoformat())
    return {"seconds": seconds, **out}


def phase_floor(users: int) -> dict[str, Any]:
    from benchmarks.floor import run_floor
    from fitness_jobs.db.engine import make_engine

    return run_floor(make_engine(_url()), PARTITION, NOW)


def phase_baseline(users: int) -> dict[str, Any]:
    from benchmarks.baseline import run_baseline
    from fitness_jobs.db.engine import make_engine

    if os.environ.get("FITNESS_BENCH_SMOKE"):
        sample: int | None = SMOKE_BASELINE_SAMPLE
    else:
        sample = BASELINE_SAMPLE if users > 10_000 else None
    return run_baseline(make_engine(_url()), PARTITION, NOW, sample)


def phase_profile(users: int) -> dict[str, Any]:
    """Where a nightly run's time goes (pyinstrument, in process, no Dagster)."""
    from pyinstrument import Profiler

    from fitness_jobs.db.engine import make_engine
    from fitness_jobs.pipelines.nightly import run_nightly

    profiler = Profiler(interval=0.005)
    with profiler:
        run_nightly(make_engine(_url()), PARTITION, now=NOW)
    session = profiler.last_session
    assert session is not None
    frames: dict[str, float] = {}

    def walk(frame: Any) -> None:
        name = f"{frame.function} ({Path(frame.file_path or '?').name}:{frame.line_no})"
        frames[name] = frames.get(name, 0.0) + frame.total_self_time
        for child in frame.children:
            walk(child)

    root = session.root_frame()
    if root is not None:
        walk(root)
    top = sorted(frames.items(), key=lambda kv: -kv[1])[:15]
    return {"seconds": session.duration, "top_self_seconds": [[n, round(s, 3)] for n, s in top]}


PHASES = {
    "seed": phase_seed,
    "nightly": phase_nightly,
    "weekly": phase_weekly,
    "floor": phase_floor,
    "baseline": phase_baseline,
    "profile": phase_profile,
}


def _in_subprocess(phase: str, users: int) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.suite", "--phase", phase, "--users", str(users)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# --------------------------------------------------------------------------- the run


def measure(sizes: list[int], profile_at: int | None) -> dict[str, Any]:
    records: list[dict[str, Any]] = []
    details: dict[str, Any] = {}
    for users in sizes:
        print(f"-- {users:,} users", flush=True)
        seed = _in_subprocess("seed", users)
        print(f"   seed     {seed['seconds']:8.1f} s  {seed['peak_rss_mb']:7.0f} MB", flush=True)
        runs = {
            name: _in_subprocess(name, users) for name in ("nightly", "floor", "baseline", "weekly")
        }
        for name, out in runs.items():
            print(f"   {name:8s} {out['seconds']:8.1f} s  {out['peak_rss_mb']:7.0f} MB", flush=True)
        nightly, floor, baseline, weekly = (
            runs[k] for k in ("nightly", "floor", "baseline", "weekly")
        )
        records.append(
            {
                "job": "nightly",
                "users": users,
                "seconds": round(nightly["seconds"], 3),
                "baseline_seconds": round(baseline["seconds"], 3),
                "floor_seconds": round(floor["seconds"], 3),
                "peak_rss_mb": nightly["peak_rss_mb"],
            }
        )
        records.append(
            {
                "job": "weekly",
                "users": users,
                "seconds": round(weekly["seconds"], 3),
                "baseline_seconds": None,
                "floor_seconds": None,
                "peak_rss_mb": weekly["peak_rss_mb"],
            }
        )
        records.append(
            {
                "job": "seed",
                "users": users,
                "seconds": round(seed["seconds"], 3),
                "baseline_seconds": None,
                "floor_seconds": None,
                "peak_rss_mb": seed["peak_rss_mb"],
            }
        )
        details[str(users)] = {"seed": seed, **runs}
        if profile_at == users:
            details[str(users)]["profile"] = _in_subprocess("profile", users)
    return {"records": records, "details": details}


def check_well_formed(results: dict[str, Any]) -> None:
    """The shape the results promise (the CI smoke run asserts this)."""
    fields = {"job", "users", "seconds", "baseline_seconds", "floor_seconds", "peak_rss_mb"}
    assert results["records"], "no records"
    for record in results["records"]:
        assert set(record) == fields, record
        assert record["seconds"] > 0 and record["peak_rss_mb"] > 0, record
    nightly = [r for r in results["records"] if r["job"] == "nightly"]
    assert all(r["baseline_seconds"] > 0 and r["floor_seconds"] > 0 for r in nightly)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--big", action="store_true", help="also 100k users, with a profile")
    parser.add_argument("--smoke", action="store_true", help="2k users only")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--users", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        out = PHASES[args.phase](args.users)
        out["peak_rss_mb"] = round(_peak_mb(), 1)
        print(json.dumps(out, default=str))
        return 0
    if args.smoke:
        os.environ["FITNESS_BENCH_SMOKE"] = "1"  # inherited by the phases' processes
    sizes = [2_000] if args.smoke else [2_000, 10_000] + ([100_000] if args.big else [])
    results = measure(sizes, 100_000 if args.big else None)
    results["machine"] = {"cores": os.cpu_count(), "when": dt.datetime.now(dt.UTC).isoformat()}
    check_well_formed(results)
    from benchmarks.report import write_results

    paths = write_results(results, args.out)
    print("\n".join(f"wrote {p}" for p in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
