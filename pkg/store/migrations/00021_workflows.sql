-- Issue 20: workflows, DAGs of jobs durable in Postgres.
--
-- A workflow is a row and its steps are rows; a step's jobs are ordinary
-- jobs naming their workflow and step. A step waits in workflow_steps
-- until its last parent succeeds, and is released (its jobs inserted
-- through the one enqueue path) in the transaction of that parent's
-- finish: pending_parents counts the parents not yet succeeded, and the
-- workflow row's lock serializes every resolution of one workflow, so a
-- child is released exactly once however many parents finish at once.

-- +goose Up
CREATE TABLE workflows (
    id              uuid PRIMARY KEY,
    owner_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name            text NOT NULL DEFAULT '',
    idempotency_key text,
    -- sha256 of the request, to tell a replay from a reuse of the key.
    request_hash    text NOT NULL DEFAULT '',
    failure_policy  text NOT NULL CHECK (failure_policy IN ('stop', 'continue')),
    state           text NOT NULL DEFAULT 'running'
        CHECK (state IN ('running', 'succeeded', 'failed', 'cancelled')),
    -- Why no more steps are released: '' (none), 'failed' (a step failed
    -- under the stop policy), 'cancelled' (the user cancelled it).
    halt            text NOT NULL DEFAULT '' CHECK (halt IN ('', 'failed', 'cancelled')),
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    finished_at     timestamptz
);
CREATE UNIQUE INDEX workflows_owner_key_idx ON workflows (owner_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX workflows_owner_created_idx ON workflows (owner_id, created_at DESC, id DESC);

CREATE TABLE workflow_steps (
    workflow_id     uuid NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    name            text NOT NULL,
    position        int NOT NULL,
    -- The job spec as validated at creation (kind, queue, plan bounds).
    kind            text NOT NULL,
    queue           text NOT NULL,
    priority        smallint NOT NULL,
    max_attempts    int NOT NULL,
    timeout_ms      bigint NOT NULL,
    payload         jsonb NOT NULL,
    depends_on      text[] NOT NULL DEFAULT '{}',
    pending_parents int NOT NULL,
    -- NULL: one job. {"items": [...]}: one job per element. {"from":
    -- step, "path": "a.b"}: one job per element of that parent's result.
    for_each        jsonb,
    state           text NOT NULL
        CHECK (state IN ('waiting', 'running', 'succeeded', 'failed', 'cancelled', 'skipped')),
    -- The step's jobs and how many ended each way: it is over when they
    -- add up to jobs_total.
    jobs_total      int NOT NULL DEFAULT 0,
    jobs_succeeded  int NOT NULL DEFAULT 0,
    jobs_failed     int NOT NULL DEFAULT 0,
    jobs_cancelled  int NOT NULL DEFAULT 0,
    error           text NOT NULL DEFAULT '',
    released_at     timestamptz,
    finished_at     timestamptz,
    PRIMARY KEY (workflow_id, name)
);

ALTER TABLE jobs
    ADD COLUMN workflow_id      uuid REFERENCES workflows (id) ON DELETE CASCADE,
    ADD COLUMN workflow_step    text,
    ADD COLUMN workflow_element int;
CREATE INDEX jobs_workflow_idx ON jobs (workflow_id, workflow_step, workflow_element)
    WHERE workflow_id IS NOT NULL;

-- +goose Down
DROP INDEX jobs_workflow_idx;
ALTER TABLE jobs DROP COLUMN workflow_element, DROP COLUMN workflow_step, DROP COLUMN workflow_id;
DROP TABLE workflow_steps;
DROP TABLE workflows;
