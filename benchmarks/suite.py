"""The benchmark suite: ours end to end through Dagster, the per-user baseline and the I/O
floor, measured in one run on the same data; results in ``benchmarks/results/``.

    python -m benchmarks.suite                  # 2k and 10k users (./dev bench)
    python -m benchmarks.suite --big            # and 100k users (minutes), with a profile,
                                                # a 365-day backfill at 20k, 1 vs 2 workers
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TODAY = dt.date(2026, 11, 29)  # the demo data ends here; fixed, so runs are comparable
NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
PARTITION = TODAY - dt.timedelta(days=1)
WEEK = dt.date(2026, 11, 16)
KEPT_WEEKS = 3  # weekly: the weeks run before WEEK (the first of them with nothing kept)
RESULTS = Path(__file__).parent / "results"
BASELINE_SAMPLE = 2_000  # above 10k users the baseline is sampled and extrapolated
SMOKE_BASELINE_SAMPLE = 200
HISTORY_DAYS = 120  # DemoConfig's default history


@dataclass(frozen=True)
class Options:
    """A phase's arguments besides the number of users (hidden command-line flags)."""

    days: int = 0  # seed: days of history (0: the default); backfill: partitions
    sample: int = 0  # backfill: single-partition runs made (0: one per partition)
    workers: int = 1  # fan-out: FITNESS_MAX_WORKERS


@dataclass(frozen=True)
class Plan:
    """What the suite measures at one size."""

    users: int
    history_days: int = HISTORY_DAYS
    standard: bool = True  # seed, nightly, floor, baseline, weekly
    backfill_days: int = 0  # a range of this many partitions ending at PARTITION
    backfill_sample: int = 0  # single-partition runs sampled (0: all of them)
    fanout: bool = False  # 1 worker against 2 (multiprocess executor)
    profile: bool = False


def plans(smoke: bool, big: bool) -> list[Plan]:
    if smoke:  # every code path, small: CI runs this
        return [Plan(2_000, backfill_days=3, fanout=True)]
    default = [Plan(2_000), Plan(10_000, backfill_days=30)]
    if not big:
        return default
    year = Plan(20_000, history_days=366, standard=False, backfill_days=365, backfill_sample=15)
    return [*default, year, Plan(100_000, fanout=True, profile=True)]


def _url() -> str:
    url = os.environ.get("FITNESS_TEST_POSTGRES_URL")
    if not url:
        raise SystemExit("set FITNESS_TEST_POSTGRES_URL (./dev bench starts a throw-away server)")
    return url


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# --------------------------------------------------------------------------- phases


def phase_seed(users: int, opts: Options) -> dict[str, Any]:
    from fitness_jobs.db.engine import create_schema, make_engine
    from fitness_jobs.db.schema import Base
    from fitness_jobs.demo.config import DemoConfig
    from fitness_jobs.demo.seed import seed_demo

    engine = make_engine(_url())
    Base.metadata.drop_all(engine)
    create_schema(engine)
    started = time.perf_counter()
    days = opts.days or HISTORY_DAYS
    config = DemoConfig(users=users, seed=7, today=TODAY, days=days)
    rows = seed_demo(engine, config, now=NOW)
    return {"seconds": time.perf_counter() - started, "rows": sum(rows.values()), "days": days}


def _execute(job_name: str, partition_key: str) -> tuple[float, dict[str, Any]]:
    import dagster as dg

    from fitness_jobs.definitions import build_definitions

    # execute_in_process runs every step here: one part of users, not one per worker.
    os.environ.update(FITNESS_DATABASE_URL=_url(), FITNESS_EXECUTOR="in_process")
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


def phase_nightly(users: int, opts: Options) -> dict[str, Any]:
    seconds, out = _execute("nightly_metrics_job", PARTITION.isoformat())
    return {"seconds": seconds, **out}


def phase_weekly(users: int, opts: Options) -> dict[str, Any]:
    """The weeks before ``WEEK`` first (the first with nothing kept yet, each keeping the
    bests of the users it reports, as every Monday in production), then ``WEEK``: the
    measured run, which reads only what the kept bests do not cover."""
    earlier = []
    for back in range(KEPT_WEEKS, 0, -1):
        week = WEEK - dt.timedelta(days=7 * back)
        seconds, out = _execute("weekly_reports_job", week.isoformat())
        earlier.append({"week": week.isoformat(), "seconds": round(seconds, 3), **out})
    from benchmarks.floor import recorded_reads, run_weekly_floor
    from fitness_jobs.db.engine import make_engine

    with recorded_reads() as statements:
        seconds, out = _execute("weekly_reports_job", WEEK.isoformat())
    floor = run_weekly_floor(make_engine(_url()), WEEK, statements)
    return {"seconds": seconds, **out, "earlier_weeks": earlier, "floor": floor}


def phase_floor(users: int, opts: Options) -> dict[str, Any]:
    from benchmarks.floor import run_floor
    from fitness_jobs.db.engine import make_engine

    return run_floor(make_engine(_url()), PARTITION, NOW)


def phase_baseline(users: int, opts: Options) -> dict[str, Any]:
    from benchmarks.baseline import run_baseline
    from fitness_jobs.db.engine import make_engine

    if os.environ.get("FITNESS_BENCH_SMOKE"):
        sample: int | None = SMOKE_BASELINE_SAMPLE
    else:
        sample = BASELINE_SAMPLE if users > 10_000 else None
    return run_baseline(make_engine(_url()), PARTITION, NOW, sample)


def phase_profile(users: int, opts: Options) -> dict[str, Any]:
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


def _backfill_days(opts: Options) -> tuple[list[dt.date], list[dt.date]]:
    from benchmarks.backfill import range_days, spread

    days = range_days(PARTITION, opts.days)
    return days, (spread(days, opts.sample) if opts.sample else days)


def phase_backfill_singles(users: int, opts: Options) -> dict[str, Any]:
    """One run per partition (or a spread sample of them) through Dagster."""
    from benchmarks.backfill import run_singles
    from fitness_jobs.db.engine import make_engine

    days, run_days = _backfill_days(opts)
    return run_singles(_url(), make_engine(_url()), days, run_days)


def phase_backfill_range(users: int, opts: Options) -> dict[str, Any]:
    """One run of the whole range through Dagster; its rows against the singles'."""
    from benchmarks.backfill import run_range
    from fitness_jobs.db.engine import make_engine

    days, _ = _backfill_days(opts)
    # A sampled backfill (the year) runs 3 of its 31-day runs, spread over the year.
    return run_range(
        _url(),
        make_engine(_url()),
        days,
        compare=not opts.sample,
        block_sample=3 if opts.sample else 0,
    )


def phase_fanout(users: int, opts: Options) -> dict[str, Any]:
    """One partition through the multiprocess executor with ``opts.workers`` workers."""
    from benchmarks.backfill import run_fanout

    return run_fanout(_url(), PARTITION, opts.workers)


PHASES = {
    "backfill_range": phase_backfill_range,
    "backfill_singles": phase_backfill_singles,
    "fanout": phase_fanout,
    "seed": phase_seed,
    "nightly": phase_nightly,
    "weekly": phase_weekly,
    "floor": phase_floor,
    "baseline": phase_baseline,
    "profile": phase_profile,
}


def _in_subprocess(phase: str, users: int, opts: Options | None = None) -> dict[str, Any]:
    opts = opts or Options()
    cmd = [sys.executable, "-m", "benchmarks.suite", "--phase", phase, "--users", str(users)]
    cmd += ["--days", str(opts.days), "--sample", str(opts.sample), "--workers", str(opts.workers)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-5000:])
        raise SystemExit(f"phase {phase} at {users} users failed (exit {done.returncode})")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _show(name: str, out: dict[str, Any]) -> None:
    print(f"   {name:16s} {out['seconds']:8.1f} s  {out['peak_rss_mb']:7.0f} MB", flush=True)


def _record(
    job: str, users: int, seconds: float, baseline: float | None, floor: float | None, rss: float
) -> dict[str, Any]:
    return {
        "job": job,
        "users": users,
        "seconds": round(seconds, 3),
        "baseline_seconds": None if baseline is None else round(baseline, 3),
        "floor_seconds": None if floor is None else round(floor, 3),
        "peak_rss_mb": rss,
    }


def measure_backfill(plan: Plan) -> tuple[dict[str, Any], dict[str, Any]]:
    """Singles first (deleting the range's rows, then one run per partition, then a copy
    of their rows), then the range (deleting them again, one run, then the comparison)."""
    opts = Options(days=plan.backfill_days, sample=plan.backfill_sample)
    singles = _in_subprocess("backfill_singles", plan.users, opts)
    _show(f"backfill {opts.days}x1", singles)
    ranged = _in_subprocess("backfill_range", plan.users, opts)
    _show(f"backfill {opts.days}d", ranged)
    job = f"nightly_backfill_{opts.days}d"
    record = _record(
        job, plan.users, ranged["seconds"], singles["seconds"], None, ranged["peak_rss_mb"]
    )
    detail = {
        "job": job,
        "partitions": opts.days,
        "first_partition": (PARTITION - dt.timedelta(days=opts.days - 1)).isoformat(),
        "last_partition": PARTITION.isoformat(),
        "baseline_sampled_partitions": singles["runs"] if singles["sampled"] else None,
        "identical_rows": ranged["identical_rows"],
        "speedup": round(singles["seconds"] / ranged["seconds"], 2),
        "order": "singles first, then the range; each after deleting the range's rows",
        "singles": singles,
        "range": ranged,
    }
    if ranged["identical_rows"] is False:
        print("   WARNING: the range's rows differ from the single runs'", flush=True)
    return record, detail


def measure_fanout(plan: Plan) -> tuple[dict[str, Any], dict[str, Any]]:
    """The same partition (already written by the nightly phase, so both re-write it)
    with 1 worker, then with 2."""
    one = _in_subprocess("fanout", plan.users, Options(workers=1))
    _show("fanout 1 worker", one)
    two = _in_subprocess("fanout", plan.users, Options(workers=2))
    _show("fanout 2 workers", two)
    # Peak RSS: the largest process of the 2-worker run (its own or a step process's).
    rss = max(two["peak_rss_mb"], two["peak_rss_step_process_mb"])
    record = _record("nightly_fanout_2w", plan.users, two["seconds"], one["seconds"], None, rss)
    detail = {
        "partition": PARTITION.isoformat(),
        "speedup": round(one["seconds"] / two["seconds"], 2),
        "order": "1 worker, then 2 workers; both re-write a partition already written",
        "steps_1w": len(one["steps"]),
        "steps_2w": len(two["steps"]),
        "1w": one,
        "2w": two,
    }
    return record, detail


# --------------------------------------------------------------------------- the run


def measure(plan_list: list[Plan]) -> dict[str, Any]:
    records: list[dict[str, Any]] = []
    details: dict[str, Any] = {}
    for plan in plan_list:
        users = plan.users
        print(f"-- {users:,} users ({plan.history_days} days of history)", flush=True)
        seed = _in_subprocess("seed", users, Options(days=plan.history_days))
        _show("seed", seed)
        detail: dict[str, Any] = details.setdefault(str(users), {})
        seed_job = "seed" if plan.history_days == HISTORY_DAYS else f"seed_{plan.history_days}d"
        detail["seed" if plan.standard else seed_job] = seed
        if plan.standard:
            runs = {
                name: _in_subprocess(name, users)
                for name in ("nightly", "floor", "baseline", "weekly")
            }
            for name, out in runs.items():
                _show(name, out)
            nightly, floor, baseline, weekly = (
                runs[k] for k in ("nightly", "floor", "baseline", "weekly")
            )
            records.append(
                _record(
                    "nightly",
                    users,
                    nightly["seconds"],
                    baseline["seconds"],
                    floor["seconds"],
                    nightly["peak_rss_mb"],
                )
            )
            records.append(
                _record(
                    "weekly",
                    users,
                    weekly["seconds"],
                    None,
                    weekly["floor"]["seconds"],
                    weekly["peak_rss_mb"],
                )
            )
            detail.update(runs)
        records.append(_record(seed_job, users, seed["seconds"], None, None, seed["peak_rss_mb"]))
        if plan.backfill_days:
            record, detail["backfill"] = measure_backfill(plan)
            records.append(record)
        if plan.fanout:
            record, detail["fanout"] = measure_fanout(plan)
            records.append(record)
        if plan.profile:
            detail["profile"] = _in_subprocess("profile", users)
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
    weekly = [r for r in results["records"] if r["job"] == "weekly"]
    assert all(r["floor_seconds"] > 0 for r in weekly)
    sections = {"nightly_backfill_": "backfill", "nightly_fanout_": "fanout"}
    for record in results["records"]:
        section = next((v for k, v in sections.items() if record["job"].startswith(k)), None)
        if section is None:
            continue
        # ours against one run per partition, or against 1 worker; no I/O floor for these
        assert record["baseline_seconds"] > 0 and record["floor_seconds"] is None, record
        detail = results["details"][str(record["users"])][section]
        assert detail["speedup"] > 0, detail
        if section == "backfill":
            assert detail["identical_rows"] in (True, False, None), detail


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--big",
        action="store_true",
        help="also 100k users (with a profile and 1 vs 2 workers) and a 365-day backfill at 20k",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="2k users only (with a 3-day backfill and 1 vs 2 workers)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--users", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--days", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--sample", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        opts = Options(days=args.days, sample=args.sample, workers=args.workers)
        out = PHASES[args.phase](args.users, opts)
        out["peak_rss_mb"] = round(_peak_mb(), 1)
        print(json.dumps(out, default=str))
        return 0
    if args.smoke:
        os.environ["FITNESS_BENCH_SMOKE"] = "1"  # inherited by the phases' processes
    results = measure(plans(args.smoke, args.big))
    results["machine"] = {"cores": os.cpu_count(), "when": dt.datetime.now(dt.UTC).isoformat()}
    check_well_formed(results)
    from benchmarks.report import write_results

    paths = write_results(results, args.out)
    print("\n".join(f"wrote {p}" for p in paths))
    differ = [
        d["backfill"]["job"]
        for d in results["details"].values()
        if d.get("backfill", {}).get("identical_rows") is False
    ]
    if differ:
        print(f"FAILED: the range run's rows differ from the single runs' ({', '.join(differ)})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
