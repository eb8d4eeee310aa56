-- Worker registry and fleet-wide queue pauses (issue 5: queues and workers
-- views, pause/resume).

-- +goose Up

-- One row per live worker instance: each upserts its row at start and every
-- few seconds, and deletes it on clean shutdown. A crashed instance's row
-- stays behind; readers only show rows seen recently.
CREATE TABLE workers (
    id            text PRIMARY KEY,
    service       text NOT NULL,
    host          text NOT NULL DEFAULT '',
    pid           int NOT NULL DEFAULT 0,
    queues        text[] NOT NULL DEFAULT '{}',
    concurrency   int NOT NULL DEFAULT 0,
    in_flight     int NOT NULL DEFAULT 0,
    started_at    timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    paused_queues text[] NOT NULL DEFAULT '{}'
);

CREATE INDEX workers_last_seen_idx ON workers (last_seen_at DESC);

-- A row means every worker instance stops consuming that queue (short
-- name). Instances read it at start and after a reconnect, so a pause
-- outlives missed control signals.
CREATE TABLE queue_pauses (
    queue     text PRIMARY KEY,
    paused_at timestamptz NOT NULL DEFAULT now(),
    paused_by text NOT NULL DEFAULT ''
);

-- +goose Down
DROP TABLE queue_pauses;
DROP TABLE workers;
