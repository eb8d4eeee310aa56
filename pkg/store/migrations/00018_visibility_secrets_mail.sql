-- Issue 18: no tenant reaches what is not theirs.
--
-- 1. Kinds carry a visibility: public (any user may submit), admin (users
--    with the admin role only) or internal (no client: only the platform
--    creates their jobs). Existing rows are public until their worker
--    publishes them again at its next start.
-- 2. Webhook signing secrets per user, shown once at creation. The
--    maintenance worker signs each delivery with every live secret of the
--    job's owner, so a rotation's old and new secret both verify until
--    the old one expires. Kept as written: HMAC signing needs the secret
--    itself (an API key only needs its hash to be checked).
-- 3. A per-user mail rate: one row per job-finished mail a user asked for,
--    counted over a sliding hour under the owner's lock, as jobs are.

-- +goose Up
ALTER TABLE kinds ADD COLUMN visibility text NOT NULL DEFAULT 'public'
    CHECK (visibility IN ('public', 'admin', 'internal'));

CREATE TABLE webhook_secrets (
    id         uuid PRIMARY KEY,
    owner_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The first characters, to tell secrets apart in a list.
    prefix     text NOT NULL,
    secret     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- NULL: signs until deleted; else signs until then (a rotation's
    -- overlap window).
    expires_at timestamptz
);
CREATE INDEX webhook_secrets_owner_idx ON webhook_secrets (owner_id, created_at DESC);

CREATE TABLE mail_sends (
    id         bigserial PRIMARY KEY,
    owner_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL
);
CREATE INDEX mail_sends_owner_idx ON mail_sends (owner_id, created_at);

-- +goose Down
DROP TABLE mail_sends;
DROP TABLE webhook_secrets;
ALTER TABLE kinds DROP COLUMN visibility;
