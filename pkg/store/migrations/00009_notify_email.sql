-- Job-finished mail: a job submitted with notify_email gets one
-- maintenance.email job (template job_finished) when it ends. The
-- dispatcher leader creates it and stamps notify_enqueued_at in the same
-- transaction, as for webhooks; a retry clears the stamp.

-- +goose Up
ALTER TABLE jobs ADD COLUMN notify_email text NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN notify_enqueued_at timestamptz;

CREATE INDEX jobs_notify_due_idx ON jobs (finished_at)
    WHERE notify_email <> '' AND notify_enqueued_at IS NULL
      AND state IN ('succeeded', 'failed', 'cancelled');

-- +goose Down
DROP INDEX jobs_notify_due_idx;
ALTER TABLE jobs DROP COLUMN notify_enqueued_at;
ALTER TABLE jobs DROP COLUMN notify_email;
