-- Fairness (issue 8): a per-user cap on jobs dispatched and not yet
-- finished, per queue. The cap is the user's plan max_concurrent (00010);
-- 0 means no cap.
--
-- A queued job is either admitted (held = false: published or about to be,
-- or running) or held (waiting in Postgres, never published). "In flight"
-- for an owner and queue = its queued-and-admitted jobs plus its running
-- ones. Every way into queued except a graceful-shutdown release (which
-- stays in flight) decides held in the same statement, in a BEFORE
-- trigger: an insert, a due scheduled/retrying job, a retried failed or
-- cancelled job. The decision takes a per-owner transaction advisory lock,
-- then counts with a fresh snapshot (plpgsql functions are volatile), so
-- two gateways cannot both admit past the cap; a multi-row statement sees
-- its own earlier rows (row-level BEFORE trigger visibility rules). A job
-- is held when the owner already has cap jobs of that queue in flight, or
-- when a held job of the same queue with equal or higher priority waits
-- (no jumping the line). The dispatcher leader admits held jobs with
-- hopper_fair_room (same lock) and publishes them; the outbox skips held
-- jobs, and a claim never takes one.
--
-- The functions bind this schema's search_path (SET search_path FROM
-- CURRENT), so they read this schema's tables whatever the caller's path.

-- +goose Up
ALTER TABLE jobs ADD COLUMN held boolean NOT NULL DEFAULT false;

-- Held jobs in release order, per owner and queue.
CREATE INDEX jobs_held_idx ON jobs (owner_id, queue, priority DESC, created_at, id)
    WHERE state = 'queued' AND held;
-- In-flight jobs per owner and queue (what the cap counts).
CREATE INDEX jobs_in_flight_idx ON jobs (owner_id, queue)
    WHERE state IN ('queued', 'running') AND NOT held;
-- The outbox never looks at held jobs.
DROP INDEX jobs_unpublished_idx;
CREATE INDEX jobs_unpublished_idx ON jobs (updated_at)
    WHERE state = 'queued' AND published_at IS NULL AND NOT held;

-- +goose StatementBegin
-- The fairness cap of owner's jobs per queue, NULL when none applies.
CREATE FUNCTION hopper_fair_cap(owner uuid) RETURNS int
LANGUAGE sql STABLE SET search_path FROM CURRENT AS $$
    SELECT NULLIF(p.max_concurrent, 0)
    FROM users u JOIN plans p ON p.name = u.plan
    WHERE u.id = owner
$$;
-- +goose StatementEnd

-- +goose StatementBegin
-- Serialises admission decisions for owner until the transaction ends.
-- The two-key form keeps clear of the single-key leader locks.
CREATE FUNCTION hopper_fair_lock(owner uuid) RETURNS void
LANGUAGE sql VOLATILE SET search_path FROM CURRENT AS $$
    SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':fair'), hashtext(owner::text))
$$;
-- +goose StatementEnd

-- +goose StatementBegin
-- How many more of owner's q jobs may be admitted now (may be negative
-- after a cap was lowered), NULL when no cap applies. It locks the owner
-- first and counts after, so the figure holds until the caller commits.
CREATE FUNCTION hopper_fair_room(owner uuid, q text) RETURNS int
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $$
DECLARE
    cap int := hopper_fair_cap(owner);
    busy int;
BEGIN
    IF cap IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM hopper_fair_lock(owner);
    SELECT count(*) INTO busy FROM jobs
    WHERE owner_id = owner AND queue = q AND state IN ('queued', 'running') AND NOT held;
    RETURN cap - busy;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
-- Decides held for a row entering queued (see the header).
CREATE FUNCTION hopper_fair_admit() RETURNS trigger
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

CREATE TRIGGER jobs_fair_admit_insert
    BEFORE INSERT ON jobs
    FOR EACH ROW
    WHEN (NEW.state = 'queued')
    EXECUTE FUNCTION hopper_fair_admit();

-- running -> queued (a graceful-shutdown release) is not here: that job
-- never stopped being in flight.
CREATE TRIGGER jobs_fair_admit_update
    BEFORE UPDATE OF state ON jobs
    FOR EACH ROW
    WHEN (NEW.state = 'queued' AND OLD.state IN ('scheduled', 'retrying', 'failed', 'cancelled'))
    EXECUTE FUNCTION hopper_fair_admit();

-- +goose Down
DROP TRIGGER jobs_fair_admit_update ON jobs;
DROP TRIGGER jobs_fair_admit_insert ON jobs;
DROP FUNCTION hopper_fair_admit();
DROP FUNCTION hopper_fair_room(uuid, text);
DROP FUNCTION hopper_fair_lock(uuid);
DROP FUNCTION hopper_fair_cap(uuid);
DROP INDEX jobs_unpublished_idx;
CREATE INDEX jobs_unpublished_idx ON jobs (updated_at)
    WHERE state = 'queued' AND published_at IS NULL;
DROP INDEX jobs_in_flight_idx;
DROP INDEX jobs_held_idx;
ALTER TABLE jobs DROP COLUMN held;
