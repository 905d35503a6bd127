"""Jobs of the code location as module-level zero-argument functions, so that
``dg.reconstructable`` can rebuild them in the step processes of a multiprocess executor
(``dg.execute_job``).  Each process builds the definitions from its environment
(``FITNESS_DATABASE_URL``, ``FITNESS_EXECUTOR``, ``FITNESS_MAX_WORKERS``), which the step
processes inherit from the run's process."""

from __future__ import annotations

import dagster as dg


def nightly_metrics_job() -> dg.JobDefinition:
    from fitness_jobs.definitions import build_definitions

    return build_definitions().resolve_job_def("nightly_metrics_job")
