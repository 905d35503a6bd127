"""The Dagster instance the command line runs on.

With ``DAGSTER_HOME`` set, that instance (``DagsterInstance.get()``), exactly as every
``dagster`` command would use it; production sets it (docs/operations.md).

Without it, the project's embedded instance: the one ``dagster dev -w workspace.yaml``
(and ``dg dev``) uses when started from the project root.  ``dagster dev`` without
``DAGSTER_HOME`` reads ``dagster.yaml`` from its working directory and keeps whatever
that file does not configure in a throw-away ``.tmp_dagster_home_*`` folder; the root
``dagster.yaml`` configures every storage, with paths relative to the project root
(``.dagster_home/storage`` for runs, events and schedules, ``.dagster_home`` for
artefacts, ``.dagster_home/compute_logs``).  So the run history lives in
``<project>/.dagster_home/storage``.

The command line reads that same file and resolves its relative ``base_dir`` values
against the project root (not the working directory, which for cron can be anything),
then builds the instance with ``DagsterInstance.local_temp(<project>/.dagster_home,
overrides=<resolved config>)`` (despite its name a regular, persistent instance rooted
at that folder).  No ``os.chdir``, no generated files: the root ``dagster.yaml`` stays
the single source, and runs started by ``fitness-jobs`` from any directory land in the
UI's run history.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dagster as dg
import yaml

from fitness_jobs.settings import PROJECT_ROOT

CONFIG_FILE = "dagster.yaml"
EMBEDDED_HOME = ".dagster_home"


def resolve_paths(config: Any, root: Path) -> Any:
    """A copy of an instance config with every relative ``base_dir`` made absolute under
    ``root`` (values given as ``{env: NAME}`` are left to Dagster)."""
    if isinstance(config, dict):
        resolved = {}
        for key, value in config.items():
            if key == "base_dir" and isinstance(value, str) and not Path(value).is_absolute():
                resolved[key] = str(root / value)
            else:
                resolved[key] = resolve_paths(value, root)
        return resolved
    if isinstance(config, list):
        return [resolve_paths(item, root) for item in config]
    return config


def dagster_instance(project_root: Path = PROJECT_ROOT) -> dg.DagsterInstance:
    """``$DAGSTER_HOME``'s instance if set, else the project's embedded one (module doc)."""
    if os.environ.get("DAGSTER_HOME"):
        return dg.DagsterInstance.get()
    home = project_root / EMBEDDED_HOME
    home.mkdir(parents=True, exist_ok=True)
    config_path = project_root / CONFIG_FILE
    config = yaml.safe_load(config_path.read_text()) if config_path.exists() else None
    overrides = resolve_paths(config or {}, project_root)
    return dg.DagsterInstance.local_temp(str(home), overrides=overrides)
