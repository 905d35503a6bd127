-- The kept personal bests of the weekly job (docs/deploy.md, "Kept personal bests"): an
-- app-schema step, applied by the schema's owner before (or after) the release that uses
-- them.  Idempotent.  Then re-run deploy/app_role.sql, which grants the jobs' role
-- SELECT, INSERT and UPDATE on both.  Without these tables the weekly job still runs; it
-- reads every earlier set for personal records, and says so in its log.
--
--   psql -v ON_ERROR_STOP=1 -d "$ADMIN_URL" -f deploy/personal_bests.sql

BEGIN;

-- Each user's best e1RM per exercise; NULL: none any more (a regeneration found none).
CREATE TABLE IF NOT EXISTS public.personal_bests (
    user_id   bigint NOT NULL,
    exercise  text NOT NULL,
    best_e1rm double precision,
    PRIMARY KEY (user_id, exercise)
);

-- What a user's kept bests cover: every set with an id up to set_id, of the sessions
-- finalized up to finalized_through.
CREATE TABLE IF NOT EXISTS public.personal_best_marks (
    user_id           bigint PRIMARY KEY,
    finalized_through timestamptz NOT NULL,
    set_id            bigint NOT NULL
);

COMMIT;
