-- Issue 19: output streaming and the pull protocol for external workers.
--
-- 1. A job's output is an ordered list of text chunks. Workers append
--    them in batches (one row per batch of up to ~25 ms of chunks, not a
--    row per token); each chunk has a sequence number, unique per job
--    and increasing across attempts, which SSE clients resume from. The
--    job row keeps the last sequence number and the bytes the current
--    attempt wrote, so an append is one conditional statement on the
--    running attempt (a worker that lost its lease appends nothing) and
--    the per-attempt byte limit is checked under the job's row lock.
-- 2. Worker tokens: credentials for external workers speaking the pull
--    protocol, scoped to a set of queues, stored hashed like API keys.

-- +goose Up
ALTER TABLE jobs
    ADD COLUMN output_seq bigint NOT NULL DEFAULT 0,
    ADD COLUMN output_bytes bigint NOT NULL DEFAULT 0,
    ADD COLUMN output_attempt int NOT NULL DEFAULT 0;

CREATE TABLE job_output (
    job_id     uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    -- The sequence number of the batch's first chunk (1-based).
    seq        bigint NOT NULL,
    attempt    int NOT NULL,
    chunks     text[] NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, seq)
);

CREATE TABLE worker_tokens (
    id         uuid PRIMARY KEY,
    name       text NOT NULL,
    -- The first characters, to tell tokens apart in a list.
    prefix     text NOT NULL,
    hash       bytea NOT NULL UNIQUE,
    queues     text[] NOT NULL,
    -- Jobs the token's workers may hold at once (running, claimed).
    max_in_flight int NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

-- +goose Down
DROP TABLE worker_tokens;
DROP TABLE job_output;
ALTER TABLE jobs DROP COLUMN output_attempt, DROP COLUMN output_bytes, DROP COLUMN output_seq;
