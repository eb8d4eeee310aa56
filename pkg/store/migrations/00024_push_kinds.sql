-- Issue 19, item 1: push kinds. An admin declares a kind whose handler is
-- an HTTP endpoint; its catalogue definition (timeout, attempts, backoff,
-- payload schema) is an ordinary row of kinds (queue push, service
-- push-worker), and what only a push needs lives here: the target, its
-- concurrency cap and rate, its signing secrets.

-- +goose Up
CREATE TABLE push_kinds (
    name            text PRIMARY KEY REFERENCES kinds (name) ON DELETE CASCADE,
    url             text NOT NULL,
    -- Most jobs of the kind running at once, fleet-wide (0: no cap).
    concurrency     int NOT NULL DEFAULT 0 CHECK (concurrency >= 0),
    -- Most deliveries started per second, fleet-wide (0: no limit).
    rate_per_second double precision NOT NULL DEFAULT 0 CHECK (rate_per_second >= 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- A kind's signing secrets, as webhook_secrets are a user's: shown once,
-- kept as written (HMAC signing needs the secret), a rotation's old
-- secret signing on until expires_at.
CREATE TABLE push_kind_secrets (
    id         uuid PRIMARY KEY,
    kind       text NOT NULL REFERENCES push_kinds (name) ON DELETE CASCADE,
    prefix     text NOT NULL,
    secret     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz
);
CREATE INDEX push_kind_secrets_kind_idx ON push_kind_secrets (kind, created_at DESC);

-- The key of the job-scoped callback tokens (HMAC of job id and attempt),
-- shared by the push workers that mint them and the gateways that check
-- them, without a setting to distribute. gen_random_uuid draws from the
-- server's strong random source: two of them are 244 random bits.
CREATE TABLE push_settings (
    singleton    boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    callback_key text NOT NULL
);
INSERT INTO push_settings (callback_key)
    VALUES (replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''));

-- The concurrency cap counts a kind's running jobs at every delivery.
CREATE INDEX jobs_running_kind_idx ON jobs (kind) WHERE state = 'running';

-- +goose Down
DROP INDEX jobs_running_kind_idx;
DROP TABLE push_settings;
DROP TABLE push_kind_secrets;
DROP TABLE push_kinds;
