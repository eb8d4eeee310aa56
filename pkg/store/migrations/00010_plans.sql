-- Plans: the limits a user's plan gives them (issue 8). users.plan names a
-- row here. Zero means unlimited for jobs_per_hour and documents_per_user.

-- +goose Up
CREATE TABLE plans (
    name               text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    jobs_per_hour      int NOT NULL DEFAULT 0 CHECK (jobs_per_hour >= 0),
    documents_per_user int NOT NULL DEFAULT 0 CHECK (documents_per_user >= 0),
    max_concurrent     int NOT NULL DEFAULT 0 CHECK (max_concurrent >= 0),
    max_priority       smallint NOT NULL DEFAULT 3 CHECK (max_priority BETWEEN 0 AND 5),
    priority_boost     smallint NOT NULL DEFAULT 0 CHECK (priority_boost BETWEEN 0 AND 5),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

INSERT INTO plans (name, jobs_per_hour, documents_per_user, max_concurrent, max_priority, priority_boost)
VALUES ('free', 100, 20, 4, 3, 0),
       ('premium', 10000, 1000, 32, 5, 1),
       -- No limits, any priority, no boost: service accounts, and tests
       -- that are not about plans.
       ('unlimited', 0, 0, 0, 5, 0)
ON CONFLICT (name) DO NOTHING;

-- Any plan a user already names (the built-in system user's 'system', or
-- a hand-typed value) gets an unlimited row, so the foreign key below
-- cannot fail on existing data.
INSERT INTO plans (name, max_priority)
SELECT DISTINCT plan, 5 FROM users WHERE plan ~ '^[a-z0-9][a-z0-9_-]{0,62}$'
ON CONFLICT (name) DO NOTHING;
UPDATE users SET plan = 'free' WHERE plan NOT IN (SELECT name FROM plans);

-- ON UPDATE CASCADE is not offered: plans are renamed by creating a new one.
ALTER TABLE users ADD CONSTRAINT users_plan_fkey FOREIGN KEY (plan) REFERENCES plans (name);
CREATE INDEX users_plan_idx ON users (plan);

-- +goose Down
DROP INDEX users_plan_idx;
ALTER TABLE users DROP CONSTRAINT users_plan_fkey;
DROP TABLE plans;
