-- The kind catalogue (issue 17): every kind a worker service runs, as the
-- workers publish it at start. The gateway reads it at run time, so a new
-- kind is accepted within seconds of its first worker starting, with no
-- gateway restart.

-- +goose Up

CREATE TABLE kinds (
    name             text PRIMARY KEY,
    queue            text NOT NULL,
    service          text NOT NULL,
    description      text NOT NULL DEFAULT '',
    default_priority smallint NOT NULL,
    max_attempts     int NOT NULL,
    timeout_ms       bigint NOT NULL,
    max_timeout_ms   bigint NOT NULL,
    backoff_base_ms  bigint NOT NULL,
    backoff_cap_ms   bigint NOT NULL,
    -- The payload's JSON Schema; NULL accepts any JSON object.
    payload_schema   jsonb,
    -- A hash of the definition unless the service names one: a worker
    -- re-publishing an unchanged kind leaves the row (and updated_at) alone.
    version          text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- The kinds each worker instance runs, so the catalogue can count live
-- workers per kind.
ALTER TABLE workers ADD COLUMN kinds text[] NOT NULL DEFAULT '{}';

-- +goose Down
ALTER TABLE workers DROP COLUMN kinds;
DROP TABLE kinds;
