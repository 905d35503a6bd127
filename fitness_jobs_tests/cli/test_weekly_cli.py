"""``fitness-jobs weekly`` and the old weekly entry point (moved here from the defs tests)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from fitness_jobs import cli
from fitness_jobs_tests.factories import user, write


def test_weekly_cli(cli_env: sa.Engine, capsys: pytest.CaptureFixture[str]) -> None:
    write(cli_env, users=[user(1, timezone="Europe/Berlin"), user(2, timezone="America/New_York")])
    assert cli.main(["weekly", "--week", "2026-11-03"]) == 2  # a Tuesday
    assert cli.main(["weekly", "--at", "2026-11-30T03:30"]) == 2  # no offset
    assert cli.main(["weekly", "--at", "2026-11-26T09:00:00Z"]) == 0  # nobody's window
    assert "nothing to do" in capsys.readouterr().out

    assert cli.main(["weekly", "--at", "2026-11-30T03:30:00+00:00", "--quiet"]) == 0  # Berlin 04:30
    out = capsys.readouterr().out
    assert "written 1" in out
    with cli_env.connect() as conn:
        assert conn.execute(sa.text("SELECT user_id FROM weekly_reports")).scalars().all() == [1]

    # Catch-up and regeneration of a week that is over everywhere, whatever today is.
    assert cli.main(["weekly", "--week", "2026-11-09", "--quiet"]) == 0
    assert (
        cli.main(["weekly", "--week", "2026-11-09", "--regenerate", "--user-id", "2", "--quiet"])
        == 0
    )
    summaries = [
        line for line in capsys.readouterr().out.splitlines() if line.startswith("weekly reports")
    ]
    assert "written 2 " in summaries[-2]
    assert "written 1 " in summaries[-1]  # only the requested user was rewritten

    write(cli_env, users=[user(3, timezone="UTC+3")])
    from fitness_jobs.jobs import weekly_job

    assert weekly_job.main(["--week", "2026-11-09", "--quiet"]) == 1
    assert "3 (invalid_timezone)" in capsys.readouterr().out
