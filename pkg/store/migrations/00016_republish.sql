-- Republishing lost messages (issue 18): the dispatcher leader publishes
-- again the queued, admitted jobs that were confirmed published longer
-- ago than HOPPER_REPUBLISH_AFTER and never claimed (their message may
-- have been purged, deleted with its queue or lost with a classic-queue
-- node). This index serves that sweep (Unclaimed) as
-- jobs_unpublished_idx serves the outbox: it holds only jobs waiting in
-- RabbitMQ, never the finished history.

-- +goose Up
CREATE INDEX jobs_published_unclaimed_idx ON jobs (published_at)
    WHERE state = 'queued' AND published_at IS NOT NULL AND NOT held;

-- +goose Down
DROP INDEX jobs_published_unclaimed_idx;
