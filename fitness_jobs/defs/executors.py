"""Which executor runs a job's steps: configuration, not code (design §10, §11).

``FITNESS_EXECUTOR`` chooses, ``FITNESS_MAX_WORKERS`` bounds the steps at once:

- ``in_process`` (the default on the embedded SQLite database, which has one writer):
  every step in the run's process;
- ``multiprocess`` (the default on PostgreSQL): up to ``FITNESS_MAX_WORKERS`` (2) step
  processes per run;
- ``k8s``: ``dagster-k8s``'s ``k8s_job_executor``, one Kubernetes Job per step, at most
  ``FITNESS_MAX_WORKERS`` at once; the image, namespace and secrets come from the run
  launcher (``deploy/k8s/values.yaml``).

Steps that touch the app database also share the instance's ``app_database`` pool, so
the database sees a bounded number of heavy steps whatever the executor.
"""

from __future__ import annotations

import os

import dagster as dg

from fitness_jobs.settings import DATABASE_URL_ENV

EXECUTOR_ENV = "FITNESS_EXECUTOR"
MAX_WORKERS_ENV = "FITNESS_MAX_WORKERS"
EXECUTORS = ("in_process", "multiprocess", "k8s")
# Imported once by the step processes' fork server: Dagster and the code location's
# module, and the pipelines, which bring pandas, numpy, SQLAlchemy and scipy.  A step
# then only builds the definitions from modules already imported.
PRELOADED_MODULES = (
    "fitness_jobs.definitions",
    "fitness_jobs.pipelines.nightly",
    "fitness_jobs.pipelines.weekly",
)


def executor_name() -> str:
    """The configured executor, or the default for the app database in use."""
    chosen = os.environ.get(EXECUTOR_ENV, "").strip()
    if chosen:
        if chosen not in EXECUTORS:
            raise ValueError(f"{EXECUTOR_ENV}={chosen!r}: use one of {', '.join(EXECUTORS)}")
        return chosen
    url = os.environ.get(DATABASE_URL_ENV, "")
    return "multiprocess" if url.startswith("postgresql") else "in_process"


def max_workers() -> int:
    raw = os.environ.get(MAX_WORKERS_ENV, "2")
    try:
        return max(1, int(raw))
    except ValueError:
        raise ValueError(f"{MAX_WORKERS_ENV}={raw!r} is not a whole number") from None


def default_steps() -> int:
    """How many parts a run's users are split into by default: one per worker (one step
    in-process, where parts would only run one after the other)."""
    return 1 if executor_name() == "in_process" else max_workers()


def job_executor() -> dg.ExecutorDefinition:
    """The executor definition for the jobs, configured from the environment."""
    name = executor_name()
    if name == "in_process":
        return dg.in_process_executor
    if name == "multiprocess":
        # Step processes fork from a server that has imported the project (Dagster,
        # pandas, the definitions) once: a step starts in well under a second instead
        # of a fresh interpreter's several seconds, which matters with one step per part.
        return dg.multiprocess_executor.configured(
            {
                "max_concurrent": max_workers(),
                "start_method": {"forkserver": {"preload_modules": list(PRELOADED_MODULES)}},
            }
        )
    from dagster_k8s import k8s_job_executor

    return k8s_job_executor.configured({"max_concurrent": max_workers()})
