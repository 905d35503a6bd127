-- The least-privilege login role of fitness-jobs on the app database (docs/operations.md,
-- "Least-privilege role").  Run it as the schema owner or a superuser, connected to the
-- app database; it is idempotent (re-run it after the app adds a table or to reset the
-- role's rights: every earlier grant on the app tables is revoked first):
--
--   FITNESS_APP_DB_PASSWORD='…' psql -v ON_ERROR_STOP=1 -v role=fitness_jobs \
--       -d "$ADMIN_URL" -f deploy/app_role.sql
--
-- psql variables:
--   role      the role's name (default fitness_jobs)
--   password  its password; -v password=… works, but the environment variable
--             FITNESS_APP_DB_PASSWORD keeps it out of the process list and shell history.
--             With neither, the script stops before changing anything.
-- The app tables are expected in the schema public.
--
-- What the jobs get: SELECT on the tables the app owns; SELECT, INSERT, UPDATE on the four
-- tables the jobs write, and on the two of kept personal bests where they exist (the
-- upserts need all three: INSERT … ON CONFLICT DO UPDATE reads,
-- inserts and updates; the report claim is INSERT … ON CONFLICT DO NOTHING); USAGE on the
-- sequences behind those tables' ids; CONNECT and TEMPORARY on the database.  Nothing
-- else: no DELETE, no TRUNCATE, no CREATE on the schema (no DDL), no role attributes.
-- The last block checks this and rolls everything back if the role could do more
-- (e.g. through a grant to PUBLIC on an old database).

\set ON_ERROR_STOP on
\if :{?role}
\else
\set role fitness_jobs
\endif
\if :{?password}
\else
\getenv password FITNESS_APP_DB_PASSWORD
\endif
\if :{?password}
\else
\echo 'app_role.sql: no password (-v password=… or FITNESS_APP_DB_PASSWORD): nothing changed'
\endif

BEGIN;

-- The role's name for the DO blocks below (psql does not substitute inside $$ … $$).
SELECT set_config('fitness_jobs.app_role', :'role', true);

DO $$
DECLARE
    app_role text := current_setting('fitness_jobs.app_role');
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = app_role) THEN
        EXECUTE format('CREATE ROLE %I LOGIN', app_role);
    END IF;
END
$$;

-- A plain login role: it owns nothing and may create no roles, databases or schemas.
-- (Without a password psql reports a syntax error at :'password' here and rolls back.)
ALTER ROLE :"role" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'password';

-- Start from nothing on the app tables, then grant exactly what the jobs use.
REVOKE ALL ON TABLE
    public.users, public.workouts, public.workout_sets, public.body_weight_logs,
    public.llm_usage_daily,
    public.user_behavior_metrics, public.weekly_reports, public.transformation_predictions,
    public.coach_usage_daily
    FROM :"role";
REVOKE CREATE ON SCHEMA public FROM :"role";
GRANT USAGE ON SCHEMA public TO :"role";

-- Read: the app's own tables.
GRANT SELECT ON TABLE
    public.users, public.workouts, public.workout_sets, public.body_weight_logs,
    public.llm_usage_daily
    TO :"role";

-- Write: the jobs' tables (upserts and the weekly claim).  No DELETE, no TRUNCATE.
GRANT SELECT, INSERT, UPDATE ON TABLE
    public.user_behavior_metrics, public.weekly_reports, public.transformation_predictions,
    public.coach_usage_daily
    TO :"role";

DO $$
DECLARE
    app_role text := current_setting('fitness_jobs.app_role');
    seq text;
    kept text;
BEGIN
    -- The kept personal bests (docs/deploy.md, "Kept personal bests"), where the app's
    -- migration has created them: the weekly job reads and upserts them.  Without them,
    -- or without these rights, it reads every earlier set instead.
    FOREACH kept IN ARRAY ARRAY['personal_bests', 'personal_best_marks'] LOOP
        IF to_regclass('public.' || kept) IS NOT NULL THEN
            EXECUTE format('REVOKE ALL ON TABLE public.%I FROM %I', kept, app_role);
            EXECUTE format('GRANT SELECT, INSERT, UPDATE ON TABLE public.%I TO %I', kept,
                           app_role);
        END IF;
    END LOOP;

    -- The sequences behind the written tables' ids (serial or identity columns; the
    -- report and prediction ids): nextval() needs USAGE.  Found, not named, so the
    -- app's own naming does not matter.
    FOR seq IN
        SELECT DISTINCT pg_get_serial_sequence(format('%I.%I', c.table_schema, c.table_name),
                                               c.column_name)
        FROM information_schema.columns c
        WHERE c.table_schema = 'public'
          AND c.table_name IN ('user_behavior_metrics', 'weekly_reports',
                               'transformation_predictions', 'coach_usage_daily')
          AND pg_get_serial_sequence(format('%I.%I', c.table_schema, c.table_name),
                                     c.column_name) IS NOT NULL
    LOOP
        EXECUTE format('REVOKE ALL ON SEQUENCE %s FROM %I', seq, app_role);
        EXECUTE format('GRANT USAGE ON SEQUENCE %s TO %I', seq, app_role);
    END LOOP;

    -- CONNECT, and TEMPORARY: the bulk upsert stages its rows with COPY into a temporary
    -- table (CREATE TEMP TABLE … (LIKE <job table>), then INSERT … SELECT … ON CONFLICT).
    -- That is not DDL on the app schema: a temporary table lives in the session's own
    -- pg_temp schema, is visible to that session only and is dropped when it ends; LIKE
    -- needs nothing but SELECT on the job table.  The role still cannot create, alter or
    -- drop anything in public.  CREATE on the database (new schemas) is not granted.
    EXECUTE format('REVOKE CREATE ON DATABASE %I FROM %I', current_database(), app_role);
    EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I', current_database(),
                   app_role);
END
$$;

-- Session limits, set on the role so that every session of the jobs has them (a session
-- could still SET them itself; the jobs do not):
-- * statement_timeout 10min: a chunk's statements (IN-list reads of ≤ 5,000 users, one
--   COPY, one INSERT … ON CONFLICT) take seconds; only a runaway plan (a lost index after
--   a migration, a bad estimate) reaches ten minutes, and it should end there rather than
--   hold locks and a connection for hours.  The cancellation (SQLSTATE 57014) is treated
--   as transient, so the step is retried a few times, then fails where it can be seen.
-- * lock_timeout 30s: the jobs lock nothing but the rows they write, and two runs of one
--   partition never overlap (advisory lock), so a wait this long means someone else holds
--   a table lock: typically an app migration (ACCESS EXCLUSIVE).  Queueing behind it
--   indefinitely would stall the run (and make the app's queries queue behind us); giving
--   up after 30 s (SQLSTATE 55P03) lets the retry policy try again with backoff.
-- * idle_in_transaction_session_timeout 5min: the jobs never leave a transaction idle;
--   each transaction is one burst of statements.  A process that hangs mid-transaction
--   (stopped, stuck, partitioned from the network) would keep row locks on the reports it
--   claimed, blocking the next run's claim of those users, and hold back vacuum.  After
--   5 minutes the server ends that session and rolls its claims back, so the next run
--   produces those reports (exactly once).
-- * idle_session_timeout is deliberately NOT set: a run holds its partition's advisory
--   lock on a connection that sits idle (outside any transaction) for the whole run;
--   ending that session would release the lock mid-run.
ALTER ROLE :"role" SET statement_timeout = '10min';
ALTER ROLE :"role" SET lock_timeout = '30s';
ALTER ROLE :"role" SET idle_in_transaction_session_timeout = '5min';

-- Verify: the role can do what the jobs need and nothing more; otherwise roll back.
DO $$
DECLARE
    app_role text := current_setting('fitness_jobs.app_role');
    tbl text;
    too_much text[] := '{}';
BEGIN
    IF (SELECT rolsuper OR rolcreaterole OR rolcreatedb OR rolbypassrls
        FROM pg_roles WHERE rolname = app_role) THEN
        too_much := array_append(too_much,
            'role attributes (superuser, createrole, createdb, bypassrls)');
    END IF;
    IF has_schema_privilege(app_role, 'public', 'CREATE') THEN
        too_much := array_append(too_much,
            'CREATE on schema public (REVOKE CREATE ON SCHEMA public FROM PUBLIC, the '
            'PostgreSQL 15 default, or from a role it belongs to)');
    END IF;
    IF has_database_privilege(app_role, current_database(), 'CREATE') THEN
        too_much := array_append(too_much, 'CREATE on the database');
    END IF;
    FOREACH tbl IN ARRAY ARRAY['users', 'workouts', 'workout_sets', 'body_weight_logs',
                               'llm_usage_daily', 'user_behavior_metrics', 'weekly_reports',
                               'transformation_predictions', 'coach_usage_daily',
                               'personal_bests', 'personal_best_marks'] LOOP
        CONTINUE WHEN to_regclass('public.' || tbl) IS NULL;  -- the optional kept tables
        IF has_table_privilege(app_role, 'public.' || tbl, 'DELETE, TRUNCATE') THEN
            too_much := array_append(too_much, 'DELETE or TRUNCATE on ' || tbl);
        END IF;
        IF tbl IN ('users', 'workouts', 'workout_sets', 'body_weight_logs', 'llm_usage_daily')
           AND has_table_privilege(app_role, 'public.' || tbl, 'INSERT, UPDATE') THEN
            too_much := array_append(too_much, 'INSERT or UPDATE on the app table ' || tbl);
        END IF;
    END LOOP;
    IF cardinality(too_much) > 0 THEN
        RAISE EXCEPTION 'role % would have more than the jobs need: %', app_role,
            array_to_string(too_much, '; ')
            USING HINT = 'the grants come from PUBLIC or from a role it is a member of';
    END IF;
END
$$;

COMMIT;
