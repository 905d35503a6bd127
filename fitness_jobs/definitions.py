"""The code location: everything under ``fitness_jobs/defs/``, one folder per job.

``dg dev`` / ``dg check defs`` (``[tool.dg]`` in pyproject.toml) and
``dagster dev -w workspace.yaml`` both load ``defs`` from here.
"""

from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)


def build_definitions() -> dg.Definitions:
    """The code location, with the app database taken from the environment now."""
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
