-- Cron schedules: the dispatcher's leader creates one job per schedule and
-- tick (pkg/dispatch Cron, store.ClaimDueSchedules).

-- +goose Up

-- Jobs need an owner. Jobs created by schedules belong to this built-in
-- user unless a schedule names another one. It is inactive, so no API key
-- can ever authenticate as it; admins see its jobs like everyone's.
INSERT INTO users (id, email, role, plan, active)
VALUES ('00000000-0000-0000-0000-000000000001', 'system@hopper.invalid', 'user', 'system', false)
ON CONFLICT DO NOTHING;

CREATE TABLE schedules (
    id              uuid PRIMARY KEY,
    name            text NOT NULL UNIQUE,
    -- Five cron fields or a descriptor (@hourly, @daily, @every 10m),
    -- checked by pkg/schedule before it is stored.
    spec            text NOT NULL,
    timezone        text NOT NULL DEFAULT 'UTC',
    kind            text NOT NULL,
    payload         jsonb NOT NULL DEFAULT '{}',
    -- NULL: the kind's default priority (queue: the kind's queue).
    priority        smallint CHECK (priority BETWEEN 0 AND 5),
    queue           text,
    owner_id        uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000001'
                        REFERENCES users (id) ON DELETE CASCADE,
    enabled         boolean NOT NULL DEFAULT true,
    -- Why a schedule is disabled: 'admin', or 'kind not registered' for a
    -- default whose handler has not landed (enabled at the first start
    -- that knows the kind).
    disabled_reason text NOT NULL DEFAULT '',
    -- The last tick a job was created for, and the next one (NULL while
    -- disabled).
    last_run_at     timestamptz,
    next_run_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (enabled OR next_run_at IS NULL)
);

-- The cron loop's sweep reads only the due, enabled rows.
CREATE INDEX schedules_due_idx ON schedules (next_run_at) WHERE enabled;
CREATE INDEX schedules_owner_idx ON schedules (owner_id);

-- +goose Down
DROP TABLE schedules;
DELETE FROM users WHERE id = '00000000-0000-0000-0000-000000000001'
    AND NOT EXISTS (SELECT 1 FROM jobs WHERE owner_id = '00000000-0000-0000-0000-000000000001');
