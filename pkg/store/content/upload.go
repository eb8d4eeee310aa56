package content

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"

	"github.com/google/uuid"

	"github.com/hopperq/hopper/pkg/store/pg"
)

// PartSize is the most of an upload the store holds in memory at once:
// the bytes are written to Postgres in parts of this size, so N
// concurrent uploads cost the gateway about N parts, not N files. Larger
// parts save round trips (a 20 MiB file is 80 statements), smaller ones
// memory; 256 KiB keeps both small.
const PartSize = 256 << 10

// UploadBody writes an upload's bytes to w. It runs inside the transaction
// that stores them, before any lock is taken; its error rolls the whole
// upload back and is returned wrapped (errors.As finds it).
type UploadBody func(w io.Writer) error

// bytesBody is the UploadBody of bytes already in memory.
func bytesBody(data []byte) UploadBody {
	return func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}
}

// partWriter streams an upload into upload_parts, hashing and counting as
// it goes. The parts live only inside the caller's transaction: the
// statement that stores the file assembles them (assembledUpload) and
// dropParts deletes them before the commit.
type partWriter struct {
	ctx  context.Context
	q    pg.Querier
	id   uuid.UUID
	seq  int
	buf  []byte
	size int64
	sum  hash.Hash
}

// streamUpload runs body into upload_parts with q (a transaction) and
// returns the upload's id, size and SHA-256.
func streamUpload(ctx context.Context, q pg.Querier, body UploadBody) (id uuid.UUID, size int64, sum string, err error) {
	id, err = uuid.NewV7()
	if err != nil {
		return uuid.Nil, 0, "", err
	}
	w := &partWriter{ctx: ctx, q: q, id: id, buf: make([]byte, 0, PartSize), sum: sha256.New()}
	if err := body(w); err != nil {
		return uuid.Nil, 0, "", fmt.Errorf("upload body: %w", err)
	}
	if err := w.flush(); err != nil {
		return uuid.Nil, 0, "", err
	}
	return id, w.size, hex.EncodeToString(w.sum.Sum(nil)), nil
}

func (w *partWriter) Write(p []byte) (int, error) {
	n := len(p)
	w.size += int64(n)
	w.sum.Write(p)
	for len(p) > 0 {
		k := copy(w.buf[len(w.buf):cap(w.buf)], p)
		w.buf, p = w.buf[:len(w.buf)+k], p[k:]
		if len(w.buf) == cap(w.buf) {
			if err := w.flush(); err != nil {
				return n - len(p), err
			}
		}
	}
	return n, nil
}

// flush writes the buffered part, if any. It uses the connection itself,
// not gorm: gorm's slow-query log would render the bytes as SQL text.
func (w *partWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.q.ExecContext(w.ctx, `INSERT INTO upload_parts (upload_id, seq, data) VALUES ($1, $2, $3)`, w.id, w.seq, w.buf)
	if err != nil {
		return fmt.Errorf("write upload part %d: %w", w.seq, err)
	}
	w.seq++
	w.buf = w.buf[:0]
	return nil
}

// assembledUpload is the SQL expression of an upload's bytes, its id the
// statement's parameter $n: Postgres joins the parts, the gateway never
// holds the whole file.
func assembledUpload(n int) string {
	return fmt.Sprintf(`(SELECT coalesce(string_agg(data, ''::bytea ORDER BY seq), ''::bytea) FROM upload_parts WHERE upload_id = $%d)`, n)
}

// dropParts deletes an assembled upload's parts.
func dropParts(ctx context.Context, q pg.Querier, id uuid.UUID) error {
	if _, err := q.ExecContext(ctx, `DELETE FROM upload_parts WHERE upload_id = $1`, id); err != nil {
		return fmt.Errorf("drop upload parts: %w", err)
	}
	return nil
}
