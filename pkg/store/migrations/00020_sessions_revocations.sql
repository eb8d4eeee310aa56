-- Issue 18: dashboard sessions held server-side, and credential changes
-- announced to every gateway at once.
--
-- 1. ui_sessions: a dashboard sign-in creates a random session id; only
--    its SHA-256 is stored (as for API keys), with the key that signed in
--    (revoking that key ends the session), the user, an absolute expiry
--    and the last request (for the idle expiry).
-- 2. hopper_auth_changed: revoking or deleting a key, and deactivating,
--    deleting or changing the role or plan of a user, send a NOTIFY on
--    channel hopper_auth. Every gateway LISTENs and drops what it cached
--    for that key or user, so no replica honours a revoked key for the
--    rest of its 5 s cache. These writes are rare (admin actions): the
--    commit-time notification lock that made a NOTIFY per job change too
--    costly (00013) does not matter here. The payload names the schema,
--    since channels are database-wide and tests share one database.

-- +goose Up
CREATE TABLE ui_sessions (
    id_hash      bytea PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key_id       uuid NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX ui_sessions_user_idx ON ui_sessions (user_id);
CREATE INDEX ui_sessions_key_idx ON ui_sessions (key_id);
CREATE INDEX ui_sessions_expires_idx ON ui_sessions (expires_at);

-- +goose StatementBegin
CREATE FUNCTION hopper_auth_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    IF TG_OP = 'DELETE' THEN
        r := OLD;
    ELSE
        r := NEW;
    END IF;
    IF TG_TABLE_NAME = 'api_keys' THEN
        PERFORM pg_notify('hopper_auth', json_build_object(
            'schema', TG_TABLE_SCHEMA, 'key_id', r.id, 'user_id', r.user_id)::text);
    ELSE
        PERFORM pg_notify('hopper_auth', json_build_object(
            'schema', TG_TABLE_SCHEMA, 'user_id', r.id)::text);
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER api_keys_auth_changed AFTER UPDATE OF revoked_at ON api_keys
    FOR EACH ROW WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)
    EXECUTE FUNCTION hopper_auth_changed();
CREATE TRIGGER api_keys_auth_deleted AFTER DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION hopper_auth_changed();
CREATE TRIGGER users_auth_changed AFTER UPDATE OF active, role, plan ON users
    FOR EACH ROW WHEN (OLD.active IS DISTINCT FROM NEW.active
                       OR OLD.role IS DISTINCT FROM NEW.role
                       OR OLD.plan IS DISTINCT FROM NEW.plan)
    EXECUTE FUNCTION hopper_auth_changed();
CREATE TRIGGER users_auth_deleted AFTER DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION hopper_auth_changed();

-- +goose Down
DROP TRIGGER users_auth_deleted ON users;
DROP TRIGGER users_auth_changed ON users;
DROP TRIGGER api_keys_auth_deleted ON api_keys;
DROP TRIGGER api_keys_auth_changed ON api_keys;
DROP FUNCTION hopper_auth_changed();
DROP TABLE ui_sessions;
