"""Nothing private reaches Dagster: the whole demo (with bad rows, so users fail and their
ids are recorded) runs into a temporary app database and a temporary Dagster instance,
then every event of every run, and every run record, is serialised and searched for the
users' e-mail addresses and their weights, trend weights and projections."""

from __future__ import annotations

import re
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster._serdes import serialize_value

from fitness_jobs.cli import main
from fitness_jobs.db.engine import make_engine

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
DECIMAL = re.compile(r"(?<![\w.])-?\d+\.\d+(?![\w.])")
PROJECTED = [
    f"projected_{weeks}w_kg{suffix}" for weeks in (4, 8, 12) for suffix in ("", "_low", "_high")
]


def _formats(value: float) -> set[str]:
    """How code would print a weight: 1 and 2 decimals, and the float's own repr."""
    return {f"{value:.1f}", f"{value:.2f}", repr(float(value))}


def test_the_demo_event_log_has_no_emails_or_health_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    url = f"sqlite:///{tmp_path / 'app.sqlite'}"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("FITNESS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FITNESS_DATABASE_URL", url)

    # Exit 1: the bad rows include users with invalid time zones, who fail.
    assert main(["demo", "run", "--users", "300", "--with-bad-rows", "--show-sample"]) == 1

    engine = make_engine(url)
    with engine.connect() as conn:
        emails = conn.execute(sa.text("SELECT email FROM users")).scalars().all()
        weights = conn.execute(sa.text("SELECT weight_kg FROM body_weight_logs")).scalars().all()
        trends = (
            conn.execute(
                sa.text(
                    "SELECT trend_weight_kg FROM weekly_reports WHERE trend_weight_kg IS NOT NULL"
                )
            )
            .scalars()
            .all()
        )
        projections = [
            value
            for row in conn.execute(
                sa.text(
                    f"SELECT trend_weight_kg, {', '.join(PROJECTED)} FROM transformation_predictions"
                )
            )
            for value in row
            if value is not None
        ]
    engine.dispose()
    assert len(emails) >= 300 and all("@" in e for e in emails)
    assert weights and trends and projections  # the search below is not vacuous

    chunks: list[str] = []
    sample_keys: list[str] = []
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs()
        assert {r.job_name for r in runs} >= {"nightly_metrics_job", "weekly_reports_job"}
        for run in runs:
            chunks.append(serialize_value(run))
            for entry in instance.all_logs(run.run_id):
                chunks.append(serialize_value(entry))
                event = entry.asset_materialization or entry.asset_check_evaluation
                if event is not None:
                    sample_keys += [k for k in event.metadata if "sample" in k.lower()]
    log = "\n".join(chunks)
    assert "failed_user_ids" in log and "invalid_timezone" in log  # ids are recorded

    # (a) e-mail addresses: none at all, and none of the users'.
    assert EMAIL.findall(log) == []
    assert [e for e in emails if e in log] == []

    # (b) health values: no weigh-in, trend weight or projection of any user, printed with
    # 1 or 2 decimals or in full, appears as a number anywhere in the event log.
    numbers = set(DECIMAL.findall(log))
    private = set().union(*(_formats(v) for v in [*weights, *trends, *projections]))
    assert sorted(numbers & private) == []

    # No metadata entry is a sample (of a report, a prediction, a user's row).
    assert sample_keys == []
