"""``db.personal_bests`` on PostgreSQL: the app-schema step ``deploy/personal_bests.sql``
makes exactly the tables the models describe, and whether the kept bests can be used
follows the tables and the role's rights."""

from __future__ import annotations

from pathlib import Path

import psycopg
import sqlalchemy as sa

from fitness_jobs.db.personal_bests import missing_rights, unusable_because
from fitness_jobs.db.schema import KEPT_TABLES, Base
from fitness_jobs_tests.faults.conftest import conninfo

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "personal_bests.sql"


def _shape(engine: sa.Engine) -> dict[str, object]:
    inspector = sa.inspect(engine)
    return {
        name: (
            [
                (c["name"], type(c["type"]).__name__, c["nullable"])
                for c in inspector.get_columns(name)
            ],
            inspector.get_pk_constraint(name)["constrained_columns"],
        )
        for name in KEPT_TABLES
    }


def test_the_deploy_script_makes_the_tables_the_models_make(postgres_engine: sa.Engine) -> None:
    from_models = _shape(postgres_engine)  # create_schema made them from the models
    assert unusable_because(postgres_engine) is None
    with postgres_engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE personal_bests")
    assert unusable_because(postgres_engine) == "no table personal_bests"
    with postgres_engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE personal_best_marks")
    with psycopg.connect(conninfo(postgres_engine), autocommit=True) as conn:
        conn.execute(SCRIPT.read_text().encode())
        conn.execute(SCRIPT.read_text().encode())  # idempotent
    assert _shape(postgres_engine) == from_models
    assert set(from_models) == {t for t in Base.metadata.tables if t in KEPT_TABLES}
    assert unusable_because(postgres_engine) is None


def test_each_right_the_kept_bests_need_is_checked(postgres_engine: sa.Engine) -> None:
    """SELECT alone, or SELECT and INSERT, is not enough: the upsert also updates."""
    with postgres_engine.begin() as conn:
        conn.exec_driver_sql("DROP ROLE IF EXISTS fj_kept_probe")
        conn.exec_driver_sql("CREATE ROLE fj_kept_probe")
        seen = []
        for grant in ("SELECT", "INSERT", "UPDATE"):
            conn.exec_driver_sql(f"GRANT {grant} ON {', '.join(KEPT_TABLES)} TO fj_kept_probe")
            conn.exec_driver_sql("SET ROLE fj_kept_probe")
            seen.append(missing_rights(conn))
            conn.exec_driver_sql("RESET ROLE")
        conn.exec_driver_sql(f"REVOKE ALL ON {', '.join(KEPT_TABLES)} FROM fj_kept_probe")
        conn.exec_driver_sql("DROP ROLE fj_kept_probe")
    assert seen == ["no INSERT on personal_bests", "no UPDATE on personal_bests", None]


def test_a_user_whose_mark_moved_since_it_was_read_is_not_kept(db_engine: sa.Engine) -> None:
    """Another run kept user 1's bests after this one read them: this one's rows for user
    1 (exact for its own mark, not mixed with the other's) are left out; user 2's go in."""
    import datetime as dt

    import pandas as pd

    from fitness_jobs.db.personal_bests import MARK_COLUMNS, bests, keep, marks

    mark_a = dt.datetime(2026, 11, 7, tzinfo=dt.UTC)
    mark_b = dt.datetime(2026, 11, 14, tzinfo=dt.UTC)
    with db_engine.begin() as conn:  # the other run
        conn.execute(sa.text("INSERT INTO personal_best_marks VALUES (1, :t, 50)"), {"t": mark_b})
        conn.execute(sa.text("INSERT INTO personal_bests VALUES (1, 'squat', 150.0)"))
    seen = pd.DataFrame({c: [] for c in MARK_COLUMNS})  # this run read no mark
    rows = pd.DataFrame(
        {"user_id": [1, 2], "exercise": ["squat", "squat"], "best_e1rm": [140.0, 90.0]}
    )
    new_marks = pd.DataFrame({"user_id": [1, 2], "finalized_through": mark_a, "set_id": 40})
    with db_engine.begin() as conn:
        assert keep(conn, rows, new_marks, seen) == 1
    with db_engine.connect() as conn:
        got = bests(conn, [1, 2]).sort_values("user_id")
        kept_marks = marks(conn, [1, 2]).sort_values("user_id")
    assert got[["user_id", "best_e1rm"]].values.tolist() == [[1, 150.0], [2, 90.0]]
    assert kept_marks["finalized_through"].tolist() == [mark_b, mark_a]
    assert kept_marks["set_id"].tolist() == [50, 40]
    # Read again with the marks as they are now, both are kept.
    with db_engine.begin() as conn:
        seen = marks(conn, [1, 2])
        assert keep(conn, rows, new_marks, seen) == 2
