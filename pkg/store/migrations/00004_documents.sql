-- Documents a user uploads, their bytes (stored once, never in an AMQP
-- message) and the chunks document.ingest indexes for retrieval.

-- +goose Up
CREATE TABLE documents (
    id            uuid PRIMARY KEY,
    owner_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    filename      text NOT NULL,
    content_type  text NOT NULL,
    format        text NOT NULL,
    size_bytes    bigint NOT NULL CHECK (size_bytes >= 0),
    sha256        text NOT NULL,
    state         text NOT NULL DEFAULT 'pending'
                  CHECK (state IN ('pending', 'indexing', 'ready', 'failed')),
    error         text NOT NULL DEFAULT '',
    title         text NOT NULL DEFAULT '',
    pages         int NOT NULL DEFAULT 0,
    chunk_count   int NOT NULL DEFAULT 0,
    ingest_job_id uuid,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);

CREATE INDEX documents_owner_created_idx ON documents (owner_id, created_at DESC, id DESC);

-- Bytes apart from the row, so listing documents never reads them.
CREATE TABLE document_blobs (
    document_id uuid PRIMARY KEY REFERENCES documents (id) ON DELETE CASCADE,
    data        bytea NOT NULL
);

CREATE TABLE document_chunks (
    id           bigserial PRIMARY KEY,
    document_id  uuid NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    owner_id     uuid NOT NULL,
    idx          int NOT NULL,
    content      text NOT NULL,
    start_offset int NOT NULL,
    end_offset   int NOT NULL,
    tsv          tsvector GENERATED ALWAYS AS (to_tsvector('english', content)) STORED,
    embedding    real[],
    UNIQUE (document_id, idx)
);

-- Retrieval is always within one owner's chunks.
CREATE INDEX document_chunks_tsv_idx ON document_chunks USING gin (tsv);
CREATE INDEX document_chunks_owner_idx ON document_chunks (owner_id);

-- +goose Down
DROP TABLE document_chunks;
DROP TABLE document_blobs;
DROP TABLE documents;
