"""The Kubernetes deployment is valid configuration, checked without a cluster."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from dagster._config import process_config
from dagster_k8s import K8sRunLauncher, k8s_job_executor

ROOT = Path(__file__).resolve().parents[1]


def _values() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "deploy" / "k8s" / "values.yaml").read_text()))


def test_run_launcher_config_is_valid_for_dagster_k8s() -> None:
    """The chart turns these camelCase values into the launcher's config (adding the
    instance config map and service account); dagster-k8s's own schema accepts them."""
    launcher = _values()["runLauncher"]
    assert launcher["type"] == "K8sRunLauncher"
    values = launcher["config"]["k8sRunLauncher"]
    config = {
        "instance_config_map": "dagster-instance",
        "service_account_name": "dagster",
        "env_secrets": [s["name"] for s in values["envSecrets"]],
        "volumes": values["volumes"],
        "volume_mounts": [
            {"name": m["name"], "mount_path": m["mountPath"]} for m in values["volumeMounts"]
        ],
        "run_k8s_config": {
            "container_config": values["runK8sConfig"]["containerConfig"],
            "pod_spec_config": {"security_context": {"run_as_non_root": True}},
        },
    }
    result = process_config(K8sRunLauncher.config_type(), config)
    assert result.success, result.errors
    # Step pods share the run's storage folder: the fanned-out steps' inputs live there.
    (mount,) = values["volumeMounts"]
    assert mount["mountPath"] == "/opt/dagster/dagster_home/storage"
    (volume,) = values["volumes"]
    assert volume["name"] == mount["name"] and "persistentVolumeClaim" in volume


def test_queue_limits_match_the_instance_config() -> None:
    coordinator = _values()["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    instance = yaml.safe_load((ROOT / "deploy" / "dagster.yaml").read_text())
    runs = instance["concurrency"]["runs"]
    assert coordinator["maxConcurrentRuns"] == runs["max_concurrent_runs"]
    assert coordinator["tagConcurrencyLimits"] == runs["tag_concurrency_limits"]


def test_secrets_come_from_kubernetes_secrets_only() -> None:
    text = (ROOT / "deploy" / "k8s" / "values.yaml").read_text().lower()
    assert "password:" not in text and "postgresql+psycopg://" not in text
    deployment = _values()["dagster-user-deployments"]["deployments"][0]
    assert deployment["envSecrets"] == [{"name": "fitness-jobs-secrets"}]
    env = {e["name"]: e["value"] for e in deployment["env"]}
    assert env == {"FITNESS_EXECUTOR": "k8s", "FITNESS_MAX_WORKERS": "4"}


@pytest.mark.parametrize(
    ("executor", "expected"),
    [("k8s", "k8s"), ("multiprocess", "multiprocess"), ("in_process", "in_process")],
)
def test_jobs_use_the_configured_executor(
    monkeypatch: pytest.MonkeyPatch, executor: str, expected: str
) -> None:
    monkeypatch.setenv("FITNESS_EXECUTOR", executor)
    monkeypatch.setenv("FITNESS_MAX_WORKERS", "4")
    from fitness_jobs.defs.executors import job_executor

    definition = job_executor()
    assert definition.name == expected
    if executor == "k8s":
        configured = process_config(
            k8s_job_executor.config_schema.config_type, {"max_concurrent": 4}
        )
        assert configured.success, configured.errors


def test_the_code_location_loads_with_the_k8s_executor() -> None:
    """As the chart runs it: FITNESS_EXECUTOR=k8s in the code server's environment."""
    probe = (
        "from fitness_jobs.definitions import build_definitions as b; d = b(); "
        "print(*(d.resolve_job_def(j).executor_def.name for j in "
        "('nightly_metrics_job', 'weekly_reports_job')))"
    )
    env = {**os.environ, "FITNESS_EXECUTOR": "k8s", "FITNESS_MAX_WORKERS": "4"}
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["k8s", "k8s"]
