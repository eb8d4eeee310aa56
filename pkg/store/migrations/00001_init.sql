-- Hopper's initial schema. Every name is unqualified so the tables land in
-- the connection's search_path schema: tests run one schema each.

-- +goose Up
CREATE TABLE users (
    id         uuid PRIMARY KEY,
    email      text NOT NULL UNIQUE,
    role       text NOT NULL CHECK (role IN ('user', 'admin')),
    plan       text NOT NULL DEFAULT 'free',
    active     boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    prefix       text NOT NULL,
    hash         bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);

-- Listing a user's keys and the ON DELETE CASCADE both look keys up by user.
CREATE INDEX api_keys_user_id_idx ON api_keys (user_id);

CREATE TABLE jobs (
    id               uuid PRIMARY KEY,
    owner_id         uuid NOT NULL REFERENCES users (id),
    kind             text NOT NULL,
    queue            text NOT NULL,
    state            text NOT NULL CHECK (state IN (
                         'scheduled', 'queued', 'running', 'retrying',
                         'succeeded', 'failed', 'cancelled')),
    priority         smallint NOT NULL CHECK (priority >= 0),
    payload          jsonb NOT NULL,
    result           jsonb,
    error            text NOT NULL DEFAULT '',
    progress         smallint NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    status_message   text NOT NULL DEFAULT '',
    attempt          int NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    max_attempts     int NOT NULL CHECK (max_attempts >= 1),
    timeout_ms       bigint NOT NULL CHECK (timeout_ms > 0),
    webhook_url      text NOT NULL DEFAULT '',
    idempotency_key  text,
    cancel_requested boolean NOT NULL DEFAULT false,
    worker_id        text NOT NULL DEFAULT '',
    lease_expires_at timestamptz,
    run_at           timestamptz NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    started_at       timestamptz,
    finished_at      timestamptz,
    published_at     timestamptz
);

-- Idempotent submits: INSERT ... ON CONFLICT infers this partial index.
CREATE UNIQUE INDEX jobs_owner_idempotency_key_idx
    ON jobs (owner_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

-- A user's job list, newest first, keyset-paginated on (created_at, id).
CREATE INDEX jobs_owner_created_idx ON jobs (owner_id, created_at DESC, id DESC);

-- The dispatcher's three sweeps each scan only the few rows they act on.
CREATE INDEX jobs_due_idx ON jobs (run_at) WHERE state IN ('scheduled', 'retrying');
CREATE INDEX jobs_lease_idx ON jobs (lease_expires_at) WHERE state = 'running';
CREATE INDEX jobs_unpublished_idx ON jobs (updated_at)
    WHERE state = 'queued' AND published_at IS NULL;

CREATE TABLE job_events (
    id      bigserial PRIMARY KEY,
    job_id  uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    at      timestamptz NOT NULL DEFAULT now(),
    type    text NOT NULL,
    state   text NOT NULL,
    attempt int NOT NULL,
    message text NOT NULL DEFAULT '',
    data    jsonb
);

CREATE INDEX job_events_job_id_idx ON job_events (job_id, id);

-- +goose Down
DROP TABLE job_events;
DROP TABLE jobs;
DROP TABLE api_keys;
DROP TABLE users;
