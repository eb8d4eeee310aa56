-- Quotas count work, not only submits (issue 18).
--
-- plans.max_attempts bounds the attempts one job of the plan may run (0:
-- only the global limit of 25): a submit asking for more is refused
-- (422 naming the maximum), a kind's default above it is lowered to it,
-- and a manual retry grants at most that many more. Automatic retries are
-- bounded by it rather than counted against jobs_per_hour: they happen
-- after the submit was admitted, and refusing one would fail a job the
-- quota already accepted.
--
-- quota_charges records the work jobs_per_hour counts that is not a new
-- jobs row: a manual retry (POST /v1/jobs/{id}/retry re-runs the same row,
-- whose created_at may be long past). The quota window counts the owner's
-- jobs created in the last hour plus these rows; the retry that writes one
-- deletes the owner's rows older than the window, so the table stays as
-- small as one hour of retries.

-- +goose Up
ALTER TABLE plans ADD COLUMN max_attempts smallint NOT NULL DEFAULT 0
    CHECK (max_attempts BETWEEN 0 AND 25);
UPDATE plans SET max_attempts = 5 WHERE name = 'free';
UPDATE plans SET max_attempts = 10 WHERE name = 'premium';

CREATE TABLE quota_charges (
    owner_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    job_id     uuid NOT NULL,
    charged_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX quota_charges_owner_idx ON quota_charges (owner_id, charged_at);

-- +goose Down
DROP TABLE quota_charges;
ALTER TABLE plans DROP COLUMN max_attempts;
