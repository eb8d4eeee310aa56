-- Completion webhooks: the dispatcher leader turns each finished job with
-- a webhook_url into one maintenance.webhook job and stamps
-- webhook_enqueued_at in the same transaction; a retry clears the stamp.

-- +goose Up
ALTER TABLE jobs ADD COLUMN webhook_enqueued_at timestamptz;

CREATE INDEX jobs_webhook_due_idx ON jobs (finished_at)
    WHERE webhook_url <> '' AND webhook_enqueued_at IS NULL
      AND state IN ('succeeded', 'failed', 'cancelled');

-- +goose Down
DROP INDEX jobs_webhook_due_idx;
ALTER TABLE jobs DROP COLUMN webhook_enqueued_at;
