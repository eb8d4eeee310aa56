-- Live events no longer use LISTEN/NOTIFY: the notifier polls (see
-- pkg/store/notify.go). A NOTIFY per job change made every writing
-- transaction take Postgres's global notification lock at commit, which
-- cost 39 % of end-to-end throughput.

-- +goose Up
DROP TRIGGER jobs_notify_change ON jobs;
DROP FUNCTION hopper_notify_job_change();

-- +goose Down
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
CREATE TRIGGER jobs_notify_change
    AFTER UPDATE ON jobs
    FOR EACH ROW
    WHEN (OLD.state IS DISTINCT FROM NEW.state
       OR OLD.progress IS DISTINCT FROM NEW.progress
       OR OLD.status_message IS DISTINCT FROM NEW.status_message
       OR OLD.cancel_requested IS DISTINCT FROM NEW.cancel_requested)
    EXECUTE FUNCTION hopper_notify_job_change();
