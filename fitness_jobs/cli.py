"""``fitness-jobs``: the cron-compatible command line (DESIGN §9).

Every job runs through Dagster (``execute_in_process`` on the project's instance), so
cron runs appear in the UI's run history next to scheduled ones.

Exit codes: 0 every user succeeded; 1 any user failed (or the run failed);
2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

EXIT_OK = 0
EXIT_USER_FAILED = 1
EXIT_USAGE = 2


class CliUsageError(Exception):
    """Bad flags or configuration: exit code 2."""


# --------------------------------------------------------------------------- helpers


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None


def _instant(value: str) -> dt.datetime:
    text = value.strip().replace("Z", "+00:00")
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 instant: {value!r}") from None
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"give the instant with its offset, e.g. 2026-11-30T03:30:00+00:00 (got {value!r})"
        )
    return parsed.astimezone(dt.UTC)


def _non_negative(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be ≥ 0 (0 processes nobody), got {number}")
    return number


def _positive(value: str) -> int:
    number = _non_negative(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be ≥ 1")
    return number


def _err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def dagster_instance() -> Any:
    """The project's Dagster instance: ``$DAGSTER_HOME`` if set, else the embedded default
    (the root ``dagster.yaml``, history in ``.dagster_home/``)."""
    from dagster import DagsterInstance

    from fitness_jobs.settings import PROJECT_ROOT, dagster_home

    if os.environ.get("DAGSTER_HOME"):
        return DagsterInstance.get()
    home = dagster_home()
    config = PROJECT_ROOT / "dagster.yaml"
    if config.exists():
        # The root dagster.yaml names paths relative to the project root.
        previous = os.getcwd()
        os.chdir(PROJECT_ROOT)
        try:
            return DagsterInstance.from_config(str(PROJECT_ROOT))
        finally:
            os.chdir(previous)
    return DagsterInstance.local_temp(str(home))


def preflight_database(tables: Sequence[str], attempts: int = 3) -> None:
    """Fail fast (exit 2) when the app database is unreachable or lacks the schema,
    instead of letting the run's retry policy wait minutes on a wrong URL."""
    import sqlalchemy as sa

    from fitness_jobs.db.engine import make_engine
    from fitness_jobs.pipelines import UsageError, require_tables
    from fitness_jobs.settings import database_url

    engine = make_engine(database_url())
    where = engine.url.render_as_string(hide_password=True)
    try:
        for attempt in range(1, attempts + 1):
            try:
                with engine.connect() as conn:
                    conn.exec_driver_sql("SELECT 1")
                break
            except sa.exc.OperationalError as exc:
                if attempt == attempts:
                    reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
                    raise CliUsageError(
                        f"cannot connect to the app database {where}: {reason}"
                    ) from None
                time.sleep(attempt)
        try:
            require_tables(engine, tables)
        except UsageError as exc:
            raise CliUsageError(str(exc)) from None
    finally:
        engine.dispose()


def _log_level(args: argparse.Namespace) -> str:
    return "WARNING" if getattr(args, "quiet", False) else "INFO"


HOST_TAG = "fitness_jobs/host"
PID_TAG = "fitness_jobs/pid"
TRIGGER_TAG = "fitness_jobs/trigger"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_dead_cli_runs(instance: Any) -> list[str]:
    """Fail the runs of ``fitness-jobs`` processes on this host that died mid-run.

    A run executed in-process holds its concurrency-pool slot until it ends; if the
    process is killed (OOM, reboot, ``kill -9``) the run stays STARTED and the slot
    stays claimed, and the next cron run would wait for it forever.  Such runs are
    marked failed and their slots freed.  Returns their run ids.
    """
    from dagster import DagsterRunStatus, RunsFilter

    runs = instance.get_runs(
        filters=RunsFilter(
            statuses=[DagsterRunStatus.STARTED, DagsterRunStatus.STARTING],
            tags={TRIGGER_TAG: "cli", HOST_TAG: socket.gethostname()},
        )
    )
    reaped = []
    for run in runs:
        pid = run.tags.get(PID_TAG, "")
        if not pid.isdigit() or int(pid) == os.getpid() or _process_alive(int(pid)):
            continue
        instance.report_run_failed(run, f"the fitness-jobs process (pid {pid}) running it is gone")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        _err(f"fitness-jobs: marked run {run.run_id} failed: its process (pid {pid}) died mid-run")
        reaped.append(run.run_id)
    return reaped


@dataclass
class JobOutcome:
    success: bool
    metadata: dict[str, Any]
    run_id: str
    failure: str | None
    seconds: float


def run_job(
    job_name: str,
    *,
    partition_key: str,
    op_config: dict[str, dict[str, Any]] | None = None,
    log_level: str = "INFO",
    tags: dict[str, str] | None = None,
) -> dict[str, JobOutcome]:
    """Execute a job of the code location in-process on the project's instance.

    Returns the outcome per asset (materialisation metadata, failures).
    """
    from fitness_jobs.definitions import build_definitions

    job = build_definitions().resolve_job_def(job_name)
    run_config: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    if op_config:
        run_config["ops"] = {name: {"config": cfg} for name, cfg in op_config.items()}
    started = time.perf_counter()
    run_tags = {
        TRIGGER_TAG: "cli",
        HOST_TAG: socket.gethostname(),
        PID_TAG: str(os.getpid()),
        **(tags or {}),
    }
    with dagster_instance() as instance:
        reap_dead_cli_runs(instance)
        result = job.execute_in_process(
            instance=instance,
            partition_key=partition_key,
            run_config=run_config,
            raise_on_error=False,
            tags=run_tags,
        )
    seconds = time.perf_counter() - started
    outcomes: dict[str, JobOutcome] = {}
    failures: dict[str, str] = {}
    for event in result.all_events:
        if event.is_step_failure and event.step_key:
            data = event.step_failure_data
            err = data.error if data is not None else None
            user_failure = data.user_failure_data if data is not None else None
            text = (user_failure.description if user_failure is not None else None) or (
                err.message.strip() if err is not None else "step failed"
            )
            failures[event.step_key] = text
    for node in result.job_def.nodes_in_topological_order:
        name = node.name
        mats = result.asset_materializations_for_node(name)
        metadata = {k: v.value for k, v in mats[-1].metadata.items()} if mats else {}
        outcomes[name] = JobOutcome(
            success=name not in failures and bool(mats),
            metadata=metadata,
            run_id=result.run_id,
            failure=failures.get(name),
            seconds=seconds,
        )
    return outcomes


def _exit_code(outcomes: dict[str, JobOutcome]) -> int:
    from fitness_jobs.defs.common import CONFIGURATION_ERROR

    for outcome in outcomes.values():
        if outcome.failure and outcome.failure.startswith(CONFIGURATION_ERROR):
            return EXIT_USAGE
    if any(int(o.metadata.get("failed_users", 0) or 0) for o in outcomes.values()):
        return EXIT_USER_FAILED
    if any(not o.success for o in outcomes.values()):
        return EXIT_USER_FAILED
    return EXIT_OK


# --------------------------------------------------------------------------- commands


def cmd_db_init(args: argparse.Namespace) -> int:
    from fitness_jobs.db.engine import create_schema, make_engine
    from fitness_jobs.settings import database_url

    engine = make_engine(database_url())
    created = create_schema(engine)
    where = engine.url.render_as_string(hide_password=True)
    if created:
        print(f"created {len(created)} table(s) in {where}: {', '.join(created)}")
    else:
        print(f"schema already up to date in {where}")
    return EXIT_OK


def _progress_printer(prefix: str) -> Callable[[str, int, int], None]:
    last = [0.0]

    def progress(table: str, done: int, total: int) -> None:
        now = time.monotonic()
        if done >= total or now - last[0] > 0.5:
            last[0] = now
            _err(f"{prefix} {table}: {done:,}/{total:,} rows")

    return progress


def cmd_demo_seed(args: argparse.Namespace) -> int:
    from fitness_jobs.db.engine import create_schema, make_engine
    from fitness_jobs.demo.generator import DemoConfig, generate_demo, write_demo
    from fitness_jobs.settings import database_url

    engine = make_engine(database_url())
    create_schema(engine)
    started = time.perf_counter()
    config = DemoConfig(
        users=args.users,
        seed=args.seed,
        days=args.days,
        with_bad_rows=args.with_bad_rows,
        first_user_id=args.first_user_id,
    )
    _err(f"generating {args.users:,} users × {args.days} days (seed {args.seed}) …")
    frames = generate_demo(config)
    counts = write_demo(engine, frames, progress=_progress_printer("writing"))
    seconds = time.perf_counter() - started
    summary = ", ".join(f"{table} {n:,}" for table, n in counts.items())
    print(f"seeded in {seconds:.1f}s: {summary}")
    return EXIT_OK


def cmd_demo_run(args: argparse.Namespace) -> int:
    """The README's main command: schema, demo data (once), the latest nightly partition and
    the last complete week's reports, through Dagster, with a summary and a sample report."""
    import sqlalchemy as sa

    from fitness_jobs.db.engine import create_schema, make_engine
    from fitness_jobs.db.schema import Base
    from fitness_jobs.pipelines.nightly import default_partition
    from fitness_jobs.pipelines.weekly import latest_complete_week
    from fitness_jobs.settings import database_url

    engine = make_engine(database_url())
    where = engine.url.render_as_string(hide_password=True)
    if args.reseed:
        if engine.dialect.name != "sqlite":
            raise CliUsageError(
                f"--reseed drops tables; it only works on the embedded SQLite database, not {where}"
            )
        Base.metadata.drop_all(engine)
    create_schema(engine)
    with engine.connect() as conn:
        existing = conn.execute(sa.text("SELECT COUNT(*) FROM users")).scalar_one()
    print(f"app database: {where}")
    if existing:
        print(f"demo data already present ({existing:,} users); --reseed starts over")
    else:
        seed_args = argparse.Namespace(
            users=args.users,
            seed=args.seed,
            days=args.days,
            with_bad_rows=args.with_bad_rows,
            first_user_id=1,
        )
        cmd_demo_seed(seed_args)
    now = dt.datetime.now(dt.UTC)
    partition = default_partition(now)
    print()
    nightly_args = argparse.Namespace(partition=partition, limit=None, chunk_size=None, quiet=True)
    nightly_code = cmd_nightly(nightly_args)
    print()
    week = latest_complete_week(now)
    weekly_args = argparse.Namespace(
        week=week,
        at=None,
        regenerate=False,
        user_id=None,
        chunk_size=None,
        show_sample=True,
        quiet=True,
    )
    weekly_code = cmd_weekly(weekly_args)
    print()
    print("open the UI with `./dev ui` (http://127.0.0.1:3000): these runs are in its history")
    return max(nightly_code, weekly_code)


def _print_excluded(md: dict[str, Any]) -> None:
    excluded = md.get("excluded_rows") or {}
    if excluded:
        print("  excluded rows: " + ", ".join(f"{k} {v}" for k, v in sorted(excluded.items())))


def _print_failed(md: dict[str, Any]) -> None:
    """Failed users by id and error code (never emails), the first ten."""
    failed = md.get("failed_user_ids") or []
    if failed:
        shown = ", ".join(f"{f['user_id']} ({f['error']})" for f in failed[:10])
        more = f" and {len(failed) - 10} more" if len(failed) > 10 else ""
        print(f"  failed users: {shown}{more}")


def _print_nightly(partition: str, outcomes: dict[str, JobOutcome]) -> None:
    metrics = outcomes.get("user_behavior_metrics")
    usage = outcomes.get("coach_usage_daily")
    print(f"nightly metrics · partition {partition} (snapshot {partition} 24:00 UTC)")
    if metrics is None:
        return
    md = metrics.metadata
    if metrics.failure and not md:
        print(f"  FAILED: {metrics.failure}")
        return
    print(
        f"  active users {md.get('active_users', 0):,} · written {md.get('written_users', 0):,}"
        f" · changed {md.get('rows_changed', 0):,} · failed {md.get('failed_users', 0):,}"
    )
    _print_excluded(md)
    print(
        f"  time zones: {md.get('timezone_null_fallback', 0)} NULL→UTC,"
        f" {md.get('timezone_case_normalized', 0)} case-normalised,"
        f" {md.get('timezone_invalid', 0)} invalid"
    )
    print(
        "  timings: "
        + ", ".join(
            f"{p} {md.get(p + '_seconds', 0):.2f}s"
            for p in ("read", "validate", "compute", "write")
        )
        + f" (run {metrics.seconds:.1f}s)"
    )
    _print_failed(md)
    if usage is not None and usage.metadata:
        print(
            f"  coach usage {partition}: {usage.metadata.get('users_with_usage', 0)} users,"
            f" {usage.metadata.get('total_requests', 0)} requests"
        )
    print(f"  dagster run {metrics.run_id}")


def cmd_nightly(args: argparse.Namespace) -> int:
    from fitness_jobs.defs.partitions import PARTITIONS_START
    from fitness_jobs.pipelines.nightly import default_partition

    partition = args.partition or default_partition(dt.datetime.now(dt.UTC))
    if partition >= dt.datetime.now(dt.UTC).date():
        raise CliUsageError(f"partition {partition} is not a complete UTC day yet")
    first = dt.date.fromisoformat(PARTITIONS_START)
    if partition < first:
        raise CliUsageError(f"partition {partition} is before the first partition ({first})")
    from fitness_jobs.pipelines.nightly import NIGHTLY_TABLES

    preflight_database(NIGHTLY_TABLES)
    config: dict[str, Any] = {}
    if args.limit is not None:
        config["limit"] = args.limit
    if args.chunk_size is not None:
        config["chunk_size"] = args.chunk_size
    outcomes = run_job(
        "nightly_metrics_job",
        partition_key=partition.isoformat(),
        op_config={"user_behavior_metrics": config} if config else None,
        log_level=_log_level(args),
    )
    _print_nightly(partition.isoformat(), outcomes)
    return _exit_code(outcomes)


def _print_weekly(week: dt.date, mode: str, outcomes: dict[str, JobOutcome]) -> None:
    reports = outcomes.get("weekly_reports")
    print(f"weekly reports · week {week.isoformat()} ({mode})", end="")
    if reports is None:
        print()
        return
    md = reports.metadata
    if reports.failure and not md:
        print(f"\n  FAILED: {reports.failure}")
        return
    print(
        f" · due {md.get('to_generate', 0):,}"
        f" · written {md.get('written_reports', 0):,} · already had one {md.get('already_reported', 0):,}"
        f" · failed {md.get('failed_users', 0):,}"
    )
    status = md.get("prediction_status") or {}
    if status:
        print("  predictions: " + ", ".join(f"{k} {v}" for k, v in sorted(status.items())))
    _print_excluded(md)
    _print_failed(md)
    print(f"  dagster run {reports.run_id} ({reports.seconds:.1f}s)")


def cmd_weekly(args: argparse.Namespace) -> int:
    from fitness_jobs.defs.partitions import weekly_partitions
    from fitness_jobs.pipelines.weekly import week_in_window_span

    now = dt.datetime.now(dt.UTC)
    config: dict[str, Any] = {"regenerate": bool(args.regenerate)}
    if args.user_id:
        config["user_ids"] = sorted(set(args.user_id))
    if args.chunk_size is not None:
        config["chunk_size"] = args.chunk_size
    if args.week is not None:
        if args.at is not None:
            raise CliUsageError("give either --week (catch-up) or --at (window mode), not both")
        week = args.week
        if week.weekday() != 0:
            raise CliUsageError(f"--week {week} is not a Monday (a week is named by its Monday)")
        config["mode"] = "catch_up"
    else:
        at = args.at or now
        found = week_in_window_span(at)
        if found is None:
            print(
                f"weekly reports · {at.isoformat(timespec='minutes')}: no time zone is inside its "
                "Monday 03:00–06:00 window, nothing to do"
            )
            return EXIT_OK
        week = found
        config.update(mode="window", at=at.isoformat())
    from fitness_jobs.pipelines.weekly import WEEKLY_TABLES

    preflight_database(WEEKLY_TABLES)
    keys = weekly_partitions.get_partition_keys(
        current_time=max(now, dt.datetime.combine(week, dt.time(12), dt.UTC))
    )
    if week.isoformat() not in keys:
        raise CliUsageError(
            f"week {week} is not a partition (first week {keys[0] if keys else '?'})"
        )
    outcomes = run_job(
        "weekly_reports_job",
        partition_key=week.isoformat(),
        op_config={"weekly_reports": config},
        log_level=_log_level(args),
        tags={"fitness_jobs/mode": config["mode"]},
    )
    reports = outcomes.get("weekly_reports")
    _print_weekly(week, config["mode"], outcomes)
    if args.show_sample and reports is not None:
        preview = reports.metadata.get("preview")
        if preview:
            print()
            print(preview)
    return _exit_code(outcomes)


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fitness-jobs",
        description="Nightly behaviour metrics and weekly reports of the fitness app, run through Dagster.",
        epilog="Exit codes: 0 all users succeeded, 1 any user failed, 2 usage or configuration error. "
        "The app database is FITNESS_DATABASE_URL (default: embedded SQLite in .data/).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="app database schema").add_subparsers(
        dest="db_command", required=True
    )
    db.add_parser("init", help="create the tables (idempotent)").set_defaults(func=cmd_db_init)

    demo = sub.add_parser("demo", help="synthetic demo data").add_subparsers(
        dest="demo_command", required=True
    )
    seed = demo.add_parser(
        "seed", help="write realistic synthetic users, workouts, weigh-ins, usage"
    )
    seed.add_argument("--users", type=_positive, required=True, help="number of users")
    seed.add_argument("--seed", type=int, default=42, help="random seed (same seed, same data)")
    seed.add_argument("--days", type=_positive, default=120, help="days of history ending today")
    seed.add_argument("--first-user-id", type=_positive, default=1, help="id of the first user")
    seed.add_argument("--with-bad-rows", action="store_true", help="add the bad input of DESIGN §8")
    seed.set_defaults(func=cmd_demo_seed)
    demo_run = demo.add_parser(
        "run",
        help="init + seed (once) + latest nightly partition + last week's reports, with a summary",
    )
    demo_run.add_argument(
        "--users", type=_positive, default=2000, help="users to seed (default 2000)"
    )
    demo_run.add_argument("--seed", type=int, default=42, help="random seed")
    demo_run.add_argument("--days", type=_positive, default=120, help="days of history")
    demo_run.add_argument(
        "--with-bad-rows", action="store_true", help="add the bad input of DESIGN §8"
    )
    demo_run.add_argument(
        "--reseed", action="store_true", help="drop the embedded demo database first"
    )
    demo_run.set_defaults(func=cmd_demo_run)

    nightly = sub.add_parser("nightly", help="behaviour metrics for one UTC day partition")
    nightly.add_argument(
        "--partition",
        type=_date,
        help="UTC day YYYY-MM-DD (default: what the 02:00 UTC schedule would run now)",
    )
    nightly.add_argument("--limit", type=_non_negative, help="only the first N active users by id")
    nightly.add_argument("--chunk-size", type=_positive, help="users per batch (memory bound)")
    nightly.add_argument("--quiet", action="store_true", help="only warnings and the summary")
    nightly.set_defaults(func=cmd_nightly)

    weekly = sub.add_parser(
        "weekly",
        help="weekly reports and predictions (window mode at --at, or catch-up for --week)",
        description="Window mode (default): the eligible users inside their local Monday "
        "03:00–06:00 window at --at (default now) without a report; meant to run hourly. "
        "Catch-up mode (--week): every eligible user of that week with no report, ignoring the clock.",
    )
    weekly.add_argument("--at", type=_instant, help="reference instant, ISO-8601 with offset")
    weekly.add_argument("--week", type=_date, help="catch-up for the week starting this Monday")
    weekly.add_argument(
        "--regenerate",
        action="store_true",
        help="rewrite existing reports and predictions (after a fix); with --user-id only those",
    )
    weekly.add_argument(
        "--user-id", type=_positive, action="append", help="only this user (repeatable)"
    )
    weekly.add_argument("--chunk-size", type=_positive, help="users per batch (memory bound)")
    weekly.add_argument("--show-sample", action="store_true", help="print one sample report")
    weekly.add_argument("--quiet", action="store_true", help="only warnings and the summary")
    weekly.set_defaults(func=cmd_weekly)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    try:
        return int(args.func(args))
    except CliUsageError as exc:
        _err(f"fitness-jobs: error: {exc}")
        return EXIT_USAGE
    except Exception as exc:
        from fitness_jobs.db.engine import DatabaseConfigError

        if isinstance(exc, DatabaseConfigError):
            _err(f"fitness-jobs: configuration error: {exc}")
            return EXIT_USAGE
        raise


if __name__ == "__main__":
    sys.exit(main())
