"""The weekly process is killed between the claim (the report insert) and the write of the
prediction and the commit: the claim dies with the transaction, and the next run produces
every report exactly once, each with its prediction."""

from __future__ import annotations

import sqlalchemy as sa

from fitness_jobs.pipelines.weekly import run_weekly
from fitness_jobs_tests.faults.conftest import W, population, run_child, table_rows, url_of

USERS = 25
CHUNK = 10  # chunk 1 commits; the process dies inside chunk 2's transaction


def _reports_and_predictions(engine: sa.Engine) -> list[tuple[int, int, int, bool]]:
    """Per user of week W: (user_id, reports, predictions, same generated_at)."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                """
                SELECT r.user_id, count(DISTINCT r.id), count(DISTINCT p.id),
                       bool_and(r.generated_at = p.generated_at)
                FROM weekly_reports r
                LEFT JOIN transformation_predictions p
                  ON p.user_id = r.user_id AND p.week_start = r.week_start
                WHERE r.week_start = :w
                GROUP BY r.user_id ORDER BY r.user_id
                """
            ),
            {"w": W},
        )
        return [(int(u), int(r), int(p), bool(same)) for u, r, p, same in rows]


def test_a_run_killed_after_its_claim_leaves_no_orphan_and_the_next_run_completes(
    postgres_engine: sa.Engine,
) -> None:
    pop = population(USERS)
    pop.write(postgres_engine)
    child = run_child("kill-after-claim", url_of(postgres_engine), W.isoformat(), str(CHUNK), "2")
    assert child.returncode == 9, child.stderr[-3000:]
    assert child.summary == {"claims": [CHUNK, CHUNK], "dying_after_claiming": CHUNK}

    # Only the first chunk was committed: its reports, each with its prediction.  The
    # second chunk's claims died with the process (no report without a prediction).
    first_chunk = pop.user_ids[:CHUNK]
    assert _reports_and_predictions(postgres_engine) == [(u, 1, 1, True) for u in first_chunk]
    committed_before = table_rows(postgres_engine, "weekly_reports")

    run = run_weekly(postgres_engine, mode="catch_up", week=W)
    assert not run.errors
    assert run.already_reported == CHUNK
    assert run.written == USERS - CHUNK
    assert sorted(run.written_user_ids) == pop.user_ids[CHUNK:]

    assert _reports_and_predictions(postgres_engine) == [(u, 1, 1, True) for u in pop.user_ids]
    # The first chunk's reports were not touched (same ids, same generated_at).
    after = {r["user_id"]: r for r in table_rows(postgres_engine, "weekly_reports")}
    assert [after[r["user_id"]] for r in committed_before] == committed_before

    again = run_weekly(postgres_engine, mode="catch_up", week=W)
    assert (again.written, again.already_reported, again.due_users) == (0, USERS, 0)
    with postgres_engine.connect() as conn:
        counts = conn.exec_driver_sql(
            "SELECT (SELECT count(*) FROM weekly_reports), "
            "(SELECT count(*) FROM transformation_predictions)"
        ).one()
    assert tuple(counts) == (USERS, USERS)
