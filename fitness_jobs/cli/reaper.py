"""Fail the runs of ``fitness-jobs`` processes that died mid-run.

A run executed in-process holds its concurrency-pool slot until it ends; if the process
is killed (OOM, reboot, ``kill -9``) the run stays STARTED and the slot stays claimed,
and the next cron run would wait for it forever.  Every CLI run is tagged with its host
and pid; before a new run starts, the runs of this host whose process is gone are marked
failed and their slots freed.
"""

from __future__ import annotations

import os
import socket
import sys

import dagster as dg

HOST_TAG = "fitness_jobs/host"
PID_TAG = "fitness_jobs/pid"
TRIGGER_TAG = "fitness_jobs/trigger"


def cli_run_tags() -> dict[str, str]:
    """The tags that let a later run recognise this process's run if it dies."""
    return {TRIGGER_TAG: "cli", HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_dead_cli_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark the STARTED/STARTING CLI runs of this host whose process is gone as failed and
    free their pool slots.  Returns their run ids."""
    runs = instance.get_runs(
        filters=dg.RunsFilter(
            statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING],
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
        print(
            f"fitness-jobs: marked run {run.run_id} failed: its process (pid {pid}) died mid-run",
            file=sys.stderr,
            flush=True,
        )
        reaped.append(run.run_id)
    return reaped
