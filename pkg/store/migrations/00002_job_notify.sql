-- Live job events (issue 5): every change a watcher cares about notifies
-- the schema's channel with the job id, so each gateway's JobNotifier
-- (pkg/store/notify.go) wakes its event streams at once, whichever
-- gateway or worker made the change.
--
-- The channel is 'hopper_jobs_' || schema (schemas over 51 bytes are
-- md5-hashed to stay within the 63-byte identifier limit); store.JobsChannel
-- computes the same name. TG_TABLE_SCHEMA, not the session's search_path,
-- names the schema. The body calls only pg_catalog functions, so it works
-- whatever search_path the updating session has. The payload is just the
-- id: listeners read the row.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION hopper_notify_job_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(
        'hopper_jobs_' || CASE WHEN octet_length(TG_TABLE_SCHEMA) <= 51
                               THEN TG_TABLE_SCHEMA ELSE md5(TG_TABLE_SCHEMA) END,
        NEW.id::text);
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- Heartbeats, lease renewals and published marks change none of these
-- columns and stay silent. cancel_requested is included: it is the one
-- timeline event (cancel_requested) that changes no state.
CREATE TRIGGER jobs_notify_change
    AFTER UPDATE ON jobs
    FOR EACH ROW
    WHEN (OLD.state IS DISTINCT FROM NEW.state
       OR OLD.progress IS DISTINCT FROM NEW.progress
       OR OLD.status_message IS DISTINCT FROM NEW.status_message
       OR OLD.cancel_requested IS DISTINCT FROM NEW.cancel_requested)
    EXECUTE FUNCTION hopper_notify_job_change();

-- +goose Down
DROP TRIGGER jobs_notify_change ON jobs;
DROP FUNCTION hopper_notify_job_change();
