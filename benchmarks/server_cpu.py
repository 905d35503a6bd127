"""CPU on both sides of a nightly and a weekly run: the job's process and the PostgreSQL
server, for the capacity model (docs/capacity.md).

    FITNESS_TEST_POSTGRES_URL=postgresql+psycopg://…/db \\
        python -m benchmarks.server_cpu --pgdata /path/to/the/cluster's/data

Runs ``nightly_metrics_job`` for the suite's partition and ``weekly_reports_job`` for its
week in this process (``execute_in_process``), on data seeded as the suite seeds it
(``fitness-jobs demo seed --users N --seed 7 --today 2026-11-29``).  The week's reports are
deleted first so the weekly run writes them again.  The server has to run on this machine:
its CPU is read from ``/proc`` (the postmaster's own and reaped children's time, plus its
live children's), before and after each run.  Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path
from typing import Any

from benchmarks.suite import PARTITION, WEEK, _execute, _url

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    """``/proc/<pid>/stat`` after the command name (which may hold spaces)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def server_cpu_seconds(postmaster: int) -> float:
    """CPU seconds of the server so far: the postmaster's user and system time and its
    reaped children's, plus the time of its live children (backends, background
    workers).  A backend that exits between two readings moves from the live sum to the
    reaped one with all its time, so differences of readings are the server's CPU."""
    fields = _stat_fields(postmaster)
    # After the name: state is field 3 of stat; utime, stime, cutime, cstime are 14–17.
    ticks = sum(int(v) for v in fields[11:15])
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            child = _stat_fields(int(entry.name))
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
        if int(child[1]) == postmaster:  # ppid
            ticks += int(child[11]) + int(child[12])
    return ticks / CLOCK_TICKS


def _client_cpu() -> float:
    """This process's CPU (all its threads, the read-ahead's included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(job: str, partition_key: str, postmaster: int) -> dict[str, Any]:
    server, client = server_cpu_seconds(postmaster), _client_cpu()
    seconds, out = _execute(job, partition_key)
    out.update(
        wall_seconds=round(seconds, 2),
        client_cpu_seconds=round(_client_cpu() - client, 2),
        server_cpu_seconds=round(server_cpu_seconds(postmaster) - server, 2),
    )
    rows = out.get("written_users") or out.get("written_reports") or 0
    if rows:
        out["server_cpu_ms_per_row"] = round(1000 * out["server_cpu_seconds"] / rows, 3)
        out["client_cpu_ms_per_row"] = round(1000 * out["client_cpu_seconds"] / rows, 3)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pgdata", required=True, help="the server's data directory")
    args = parser.parse_args()
    postmaster = int(Path(args.pgdata, "postmaster.pid").read_text().splitlines()[0])

    import sqlalchemy as sa

    from fitness_jobs.db.engine import make_engine

    engine = make_engine(_url())
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM weekly_reports WHERE week_start = :w"), {"w": WEEK})
        conn.execute(
            sa.text("DELETE FROM transformation_predictions WHERE week_start = :w"),
            {"w": WEEK},
        )
    engine.dispose()
    started = time.perf_counter()
    results: dict[str, Any] = {
        "nightly": measure("nightly_metrics_job", PARTITION.isoformat(), postmaster),
        "weekly": measure("weekly_reports_job", WEEK.isoformat(), postmaster),
    }
    results["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
