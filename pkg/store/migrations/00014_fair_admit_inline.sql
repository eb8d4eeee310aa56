-- Fairness admission (00011) made cheap for owners without a cap. The
-- BEFORE trigger ran hopper_fair_room -> hopper_fair_cap and
-- hopper_fair_lock for every row entering queued: three nested function
-- calls, each switching search_path (SET ... FROM CURRENT), and the two SQL
-- functions re-planned in every transaction. An owner on an uncapped plan
-- paid ~20 us a row of a batch for nothing, ~200 us a single-row insert.
--
-- hopper_fair_admit now does it all itself: one cap lookup, and for an
-- uncapped owner it returns at once, before any lock. A capped owner takes
-- the same per-owner lock as hopper_fair_lock, then counts, exactly as
-- hopper_fair_room did: every statement of this volatile function runs
-- with a fresh snapshot, so the cap is read per row (a plan change applies
-- to the next submit), the count sees rows committed before the lock and
-- the earlier rows of the same statement. The decision is unchanged.
--
-- The function binds this schema by naming its tables schema-qualified
-- (written in by format() below) instead of SET search_path, which costs
-- a search_path switch per row. The lock key is hopper_fair_lock's:
-- current_schema() || ':fair' as of this migration, the schema 00011's
-- SET search_path FROM CURRENT bound. hopper_fair_room, _cap and _lock
-- stay for the dispatcher's release (ReleaseHeld). The triggers are
-- unchanged.

-- +goose Up
-- +goose StatementBegin
DO $migrate$
BEGIN
EXECUTE format($fn$
CREATE OR REPLACE FUNCTION %1$I.hopper_fair_admit() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    cap int;
    busy int;
BEGIN
    SELECT NULLIF(p.max_concurrent, 0) INTO cap
    FROM %1$I.users u JOIN %1$I.plans p ON p.name = u.plan
    WHERE u.id = NEW.owner_id;
    IF cap IS NULL THEN
        NEW.held := false;
        RETURN NEW;
    END IF;
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext(%2$L), pg_catalog.hashtext(NEW.owner_id::text));
    SELECT count(*) INTO busy FROM %1$I.jobs
    WHERE owner_id = NEW.owner_id AND queue = NEW.queue AND state IN ('queued', 'running') AND NOT held;
    IF busy >= cap THEN
        NEW.held := true;
    ELSE
        NEW.held := EXISTS (
            SELECT 1 FROM %1$I.jobs
            WHERE owner_id = NEW.owner_id AND queue = NEW.queue AND state = 'queued' AND held
              AND priority >= NEW.priority AND id <> NEW.id);
    END IF;
    RETURN NEW;
END
$$
$fn$, current_schema(), current_schema() || ':fair');
END
$migrate$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION hopper_fair_admit() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    room int := hopper_fair_room(NEW.owner_id, NEW.queue);
BEGIN
    IF room IS NULL THEN
        NEW.held := false;
    ELSIF room <= 0 THEN
        NEW.held := true;
    ELSE
        NEW.held := EXISTS (
            SELECT 1 FROM jobs
            WHERE owner_id = NEW.owner_id AND queue = NEW.queue AND state = 'queued' AND held
              AND priority >= NEW.priority AND id <> NEW.id);
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd
