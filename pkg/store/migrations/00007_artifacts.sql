-- Files a job consumes or produces (an uploaded recording, a generated
-- image), stored with the job so they share its owner, its lifetime and
-- its transaction. Bytes never travel in AMQP messages.

-- +goose Up
CREATE TABLE job_artifacts (
    job_id       uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (name <> '' AND length(name) <= 255),
    content_type text NOT NULL,
    size_bytes   bigint NOT NULL CHECK (size_bytes >= 0),
    sha256       text NOT NULL,
    data         bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, name)
);

-- +goose Down
DROP TABLE job_artifacts;
