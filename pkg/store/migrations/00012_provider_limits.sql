-- Per-provider rate limits shared by every worker replica (issue 8). One
-- row per provider bucket, keyed "<provider>@<host>" (e.g. llm@api.openai.com).
-- Both limits are GCRA states: the theoretical arrival time (TAT) the next
-- request or token would have at the sustained rate. A request reserves its
-- slot with one INSERT … ON CONFLICT DO UPDATE … RETURNING (the row lock
-- serialises replicas); tokens are charged after the call with one UPDATE.
-- The database's clock is the only clock, so worker clocks never matter.

-- +goose Up
CREATE TABLE provider_limits (
    key         text PRIMARY KEY,
    request_tat timestamptz NOT NULL DEFAULT '-infinity',
    token_tat   timestamptz NOT NULL DEFAULT '-infinity',
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE provider_limits;
