-- An upload's bytes on their way to document_blobs or job_artifacts: the
-- gateway writes them here in parts, inside the transaction that creates
-- the document or job, and that transaction assembles them into the final
-- row and deletes them (docs/ARCHITECTURE.md, "Uploads"). Nothing here is
-- ever committed, so the table is unlogged: its writes skip the WAL, and a
-- crash losing it loses only uploads that were never answered.

-- +goose Up
CREATE UNLOGGED TABLE upload_parts (
    upload_id uuid NOT NULL,
    seq       int NOT NULL,
    data      bytea NOT NULL,
    PRIMARY KEY (upload_id, seq)
);

-- +goose Down
DROP TABLE upload_parts;
