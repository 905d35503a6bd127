"""The Dagster instance without ``DAGSTER_HOME``: the project's ``dagster.yaml`` with its
relative paths resolved against the project root, whatever the working directory."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from fitness_jobs.cli.instance import dagster_instance, resolve_paths
from fitness_jobs.settings import PROJECT_ROOT


def test_relative_base_dirs_are_resolved(tmp_path: Path) -> None:
    config = {
        "storage": {"sqlite": {"base_dir": ".dagster_home/storage"}},
        "compute_logs": {"config": {"base_dir": "/abs/logs"}},
        "other": [{"base_dir": "rel"}, {"base_dir": {"env": "X"}}],
    }
    assert resolve_paths(config, tmp_path) == {
        "storage": {"sqlite": {"base_dir": str(tmp_path / ".dagster_home/storage")}},
        "compute_logs": {"config": {"base_dir": "/abs/logs"}},
        "other": [{"base_dir": str(tmp_path / "rel")}, {"base_dir": {"env": "X"}}],
    }


def test_runs_land_in_the_project_storage_from_any_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", project / "dagster.yaml")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.chdir(elsewhere)

    import dagster as dg

    @dg.op
    def noop() -> None:
        return None

    @dg.job
    def probe_job() -> None:
        noop()

    with dagster_instance(project) as instance:
        result = probe_job.execute_in_process(instance=instance)
        assert result.success
        assert instance.get_run_record_by_id(result.run_id) is not None
    assert os.getcwd() == str(elsewhere)
    assert list(elsewhere.iterdir()) == []  # nothing relative to the working directory
    assert (project / ".dagster_home" / "storage" / "history" / "runs.db").exists()
    with dagster_instance(project) as again:  # a second process sees the run
        assert [r.run_id for r in again.get_runs()] == [result.run_id]
