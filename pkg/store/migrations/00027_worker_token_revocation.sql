-- Worker tokens (00022) revoked or deleted are announced to every gateway
-- at once, as API keys are since 00020: a NOTIFY on hopper_auth naming the
-- token, and each gateway drops it from its 5 s auth cache. The payload
-- names the schema, since channels are database-wide.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION hopper_worker_token_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('hopper_auth', json_build_object(
        'schema', TG_TABLE_SCHEMA, 'worker_token_id', OLD.id)::text);
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER worker_tokens_revoked AFTER UPDATE OF revoked_at ON worker_tokens
    FOR EACH ROW WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)
    EXECUTE FUNCTION hopper_worker_token_changed();
CREATE TRIGGER worker_tokens_deleted AFTER DELETE ON worker_tokens
    FOR EACH ROW EXECUTE FUNCTION hopper_worker_token_changed();

-- +goose Down
DROP TRIGGER worker_tokens_deleted ON worker_tokens;
DROP TRIGGER worker_tokens_revoked ON worker_tokens;
DROP FUNCTION hopper_worker_token_changed();
