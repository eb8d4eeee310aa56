package content

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/pkg/store/pg"
)

// Document states.
const (
	DocumentPending  = "pending"  // uploaded, ingest job not started
	DocumentIndexing = "indexing" // ingest running
	DocumentReady    = "ready"    // chunks indexed
	DocumentFailed   = "failed"   // ingest failed for good; Error says why
)

// Document is an uploaded file and its ingest status.
type Document struct {
	ID          uuid.UUID
	OwnerID     uuid.UUID
	Filename    string
	ContentType string
	Format      string
	SizeBytes   int64
	Sha256      string
	State       string
	Error       string
	Title       string
	Pages       int
	ChunkCount  int
	IngestJobID *uuid.UUID
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// NewDocument is an upload to store together with its ingest job.
type NewDocument struct {
	OwnerID     uuid.UUID
	Filename    string
	ContentType string
	Format      string
	// Data is the file; Body instead streams it (bounded memory, for
	// uploads). Exactly one of them is used: Body when it is set.
	Data []byte
	Body UploadBody
	// MaxPerUser is the owner's quota; 0 means none.
	MaxPerUser int
	// Ingest builds the ingest job for the new document's id; its
	// JobsPerHour applies as to any job.
	Ingest func(documentID uuid.UUID) (jobstore.NewJob, error)
}

// CreateDocument stores the document, its bytes and its ingest job in one
// transaction: an upload either exists with a job that will index it, or
// not at all. The quota is checked under a lock on the owner's row, so
// concurrent uploads cannot overshoot it.
func (s *Store) CreateDocument(ctx context.Context, nd NewDocument, now time.Time) (Document, jobstore.Job, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return Document{}, jobstore.Job{}, fmt.Errorf("create document: %w", err)
	}
	body := nd.Body
	if body == nil {
		body = bytesBody(nd.Data)
	}
	doc := Document{
		ID: id, OwnerID: nd.OwnerID, Filename: nd.Filename, ContentType: nd.ContentType,
		Format: nd.Format, State: DocumentPending, CreatedAt: now, UpdatedAt: now,
	}
	nj, err := nd.Ingest(id)
	if err != nil {
		return Document{}, jobstore.Job{}, fmt.Errorf("create document: %w", err)
	}
	var job jobstore.Job
	err = s.db.Gorm().WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		q := tx.Statement.ConnPool
		// The bytes first, before any lock: a slow client holds only its
		// own connection, never another upload's quota lock.
		upload, size, sum, err := streamUpload(ctx, q, body)
		if err != nil {
			return err
		}
		doc.SizeBytes, doc.Sha256 = size, sum
		// Lock order, the same in every upload: the owner's quota lock
		// (which Enqueue takes again, advisory locks nest), then the
		// owner's row, before the job's insert takes a share of it: two
		// uploads holding a share each would wait on each other's.
		if nj.JobsPerHour > 0 {
			if err := jobstore.LockQuota(ctx, q, nj.OwnerID); err != nil {
				return err
			}
		}
		if nd.MaxPerUser > 0 {
			if err := tx.Exec(`SELECT 1 FROM users WHERE id = ? FOR UPDATE`, nd.OwnerID).Error; err != nil {
				return fmt.Errorf("lock owner: %w", err)
			}
		}
		created, err := jobstore.Enqueue(ctx, q, []jobstore.NewJob{nj}, now)
		if err != nil {
			return err
		}
		job = created[0].Job
		if nd.MaxPerUser > 0 {
			n, err := countDocuments(tx, nd.OwnerID)
			if err != nil {
				return err
			}
			if n >= int64(nd.MaxPerUser) {
				return &pg.QuotaError{Limit: pg.LimitDocumentsPerUser, Max: nd.MaxPerUser, Used: int(n), Requested: 1}
			}
		}
		doc.IngestJobID = &job.ID
		if err := tx.Create(&doc).Error; err != nil {
			return fmt.Errorf("insert document: %w", err)
		}
		if _, err := q.ExecContext(ctx, `INSERT INTO document_blobs (document_id, data) VALUES ($1, `+assembledUpload(2)+`)`, id, upload); err != nil {
			return fmt.Errorf("insert document bytes: %w", err)
		}
		return dropParts(ctx, q, upload)
	})
	if err != nil {
		if errors.Is(err, pg.ErrQuotaExceeded) {
			return Document{}, jobstore.Job{}, err
		}
		return Document{}, jobstore.Job{}, fmt.Errorf("create document: %w", err)
	}
	return doc, job, nil
}

// GetDocument returns owner's document id; pg.ErrNotFound when it is absent
// or another user's.
func (s *Store) GetDocument(ctx context.Context, owner, id uuid.UUID) (Document, error) {
	var doc Document
	res := s.db.Gorm().WithContext(ctx).Where("id = ? AND owner_id = ?", id, owner).Limit(1).Find(&doc)
	if res.Error != nil {
		return Document{}, fmt.Errorf("get document: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return Document{}, pg.ErrNotFound
	}
	return doc, nil
}

// ListDocuments returns owner's documents, newest first, up to limit.
func (s *Store) ListDocuments(ctx context.Context, owner uuid.UUID, limit int) ([]Document, error) {
	var docs []Document
	err := s.db.Gorm().WithContext(ctx).Where("owner_id = ?", owner).
		Order("created_at DESC, id DESC").Limit(limit).Find(&docs).Error
	if err != nil {
		return nil, fmt.Errorf("list documents: %w", err)
	}
	return docs, nil
}

// CountDocuments returns how many documents owner has.
func (s *Store) CountDocuments(ctx context.Context, owner uuid.UUID) (int64, error) {
	return countDocuments(s.db.Gorm().WithContext(ctx), owner)
}

// countDocuments counts owner's documents with db (the Store's handle or
// a transaction).
func countDocuments(db *gorm.DB, owner uuid.UUID) (int64, error) {
	var n int64
	if err := db.Model(&Document{}).Where("owner_id = ?", owner).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count documents: %w", err)
	}
	return n, nil
}

// DeleteDocument removes owner's document with its bytes and chunks;
// pg.ErrNotFound when there is none.
func (s *Store) DeleteDocument(ctx context.Context, owner, id uuid.UUID) error {
	res := s.db.Gorm().WithContext(ctx).Where("id = ? AND owner_id = ?", id, owner).Delete(&Document{})
	if res.Error != nil {
		return fmt.Errorf("delete document: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return pg.ErrNotFound
	}
	return nil
}

// DocumentData returns a document's bytes; pg.ErrNotFound once it is deleted.
func (s *Store) DocumentData(ctx context.Context, id uuid.UUID) ([]byte, error) {
	var rows []struct{ Data []byte }
	if err := s.db.Gorm().WithContext(ctx).Raw(`SELECT data FROM document_blobs WHERE document_id = ?`, id).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("document bytes: %w", err)
	}
	if len(rows) == 0 {
		return nil, pg.ErrNotFound
	}
	return rows[0].Data, nil
}

// SetDocumentState records ingest progress or failure (msg: why it failed).
func (s *Store) SetDocumentState(ctx context.Context, id uuid.UUID, state, msg string) error {
	err := s.db.Gorm().WithContext(ctx).Model(&Document{}).Where("id = ?", id).
		Updates(map[string]any{"state": state, "error": msg, "updated_at": time.Now()}).Error
	if err != nil {
		return fmt.Errorf("set document state: %w", err)
	}
	return nil
}

// Chunk is one indexed piece of a document's text.
type Chunk struct {
	Index       int
	Content     string
	StartOffset int
	EndOffset   int
	// Embedding is the chunk's vector; nil leaves it full-text only.
	Embedding []float32
}

// IndexedDocument is what ingest learned about a document.
type IndexedDocument struct {
	Title string
	Pages int
}

// maxChunkRowsPerInsert keeps one INSERT under Postgres's bind limit.
const maxChunkRowsPerInsert = 1000

// ReplaceChunks swaps a document's chunks for chunks and marks it ready,
// in one transaction: a re-run of ingest never leaves half an index, and
// a reader sees the old chunks or the new ones.
func (s *Store) ReplaceChunks(ctx context.Context, doc Document, info IndexedDocument, chunks []Chunk) error {
	err := s.db.Gorm().WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec(`DELETE FROM document_chunks WHERE document_id = ?`, doc.ID).Error; err != nil {
			return fmt.Errorf("delete old chunks: %w", err)
		}
		for start := 0; start < len(chunks); start += maxChunkRowsPerInsert {
			end := min(start+maxChunkRowsPerInsert, len(chunks))
			var values strings.Builder
			args := make([]any, 0, (end-start)*7)
			for i, c := range chunks[start:end] {
				if i > 0 {
					values.WriteString(",")
				}
				values.WriteString("(?,?,?,?,?,?,?::real[])")
				args = append(args, doc.ID, doc.OwnerID, c.Index, c.Content, c.StartOffset, c.EndOffset, vector(c.Embedding))
			}
			q := `INSERT INTO document_chunks (document_id, owner_id, idx, content, start_offset, end_offset, embedding) VALUES ` + values.String()
			if err := tx.Exec(q, args...).Error; err != nil {
				return fmt.Errorf("insert chunks: %w", err)
			}
		}
		res := tx.Model(&Document{}).Where("id = ?", doc.ID).Updates(map[string]any{
			"state": DocumentReady, "error": "", "title": info.Title, "pages": info.Pages,
			"chunk_count": len(chunks), "updated_at": time.Now(),
		})
		if res.Error != nil {
			return fmt.Errorf("mark ready: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return pg.ErrNotFound // deleted while ingesting
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("replace chunks: %w", err)
	}
	return nil
}

// ChunkHit is a chunk that matched a query, with its document.
type ChunkHit struct {
	ChunkID    int64
	DocumentID uuid.UUID
	Filename   string
	Title      string
	Index      int
	Content    string
	// Score is ts_rank_cd for SearchChunks, the fused Reciprocal Rank
	// Fusion score for SearchChunksHybrid.
	Score float64
	// SearchChunksHybrid only: the chunk's 1-based position in the
	// full-text and in the vector ranking (0: not in that ranking), and
	// its cosine similarity to the query vector.
	TextRank   int
	VectorRank int
	Similarity float64
}

// SearchChunks ranks owner's chunks against query with Postgres full-text
// search and returns the best limit. Any query word may match (OR), and
// ts_rank_cd rewards chunks matching more of them, closer together: a
// question's words rarely all appear in the passage that answers it.
func (s *Store) SearchChunks(ctx context.Context, owner uuid.UUID, query string, limit int) ([]ChunkHit, error) {
	tsq := orQuery(query)
	if tsq == "" {
		return nil, nil
	}
	var hits []ChunkHit
	err := s.db.Gorm().WithContext(ctx).Raw(`
SELECT c.id AS chunk_id, c.document_id, d.filename, d.title, c.idx AS index, c.content,
       ts_rank_cd(c.tsv, q, 32) AS score
FROM document_chunks c
JOIN documents d ON d.id = c.document_id,
     to_tsquery('english', ?) q
WHERE c.owner_id = ? AND c.tsv @@ q
ORDER BY score DESC, c.document_id, c.idx
LIMIT ?`, tsq, owner, limit).Scan(&hits).Error
	if err != nil {
		return nil, fmt.Errorf("search chunks: %w", err)
	}
	return hits, nil
}

// orQuery turns free text into a to_tsquery expression "w1 | w2 | …" of
// its letter-and-digit words, so no user input reaches the tsquery parser
// as syntax. to_tsquery drops English stop words itself.
func orQuery(text string) string {
	words := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	seen := map[string]bool{}
	var out []string
	for _, w := range words {
		if seen[w] || len(out) >= 64 {
			continue
		}
		seen[w] = true
		out = append(out, w)
	}
	return strings.Join(out, " | ")
}

// cleanupDocuments bounds the documents one cleanup statement deletes:
// each takes its bytes and chunks with it, by cascade.
const cleanupDocuments = 100

// DeleteDocumentsBefore deletes documents uploaded before cutoff, with
// their bytes and chunks, in batches. It returns how many it deleted.
func (s *Store) DeleteDocumentsBefore(ctx context.Context, cutoff time.Time) (int64, error) {
	var total int64
	for {
		res := s.db.Gorm().WithContext(ctx).Exec(`DELETE FROM documents WHERE id IN (
	SELECT id FROM documents WHERE created_at < ?
	ORDER BY created_at LIMIT ? FOR UPDATE SKIP LOCKED)`, cutoff, cleanupDocuments)
		if res.Error != nil {
			return total, fmt.Errorf("delete documents: %w", res.Error)
		}
		total += res.RowsAffected
		if res.RowsAffected < cleanupDocuments {
			return total, nil
		}
	}
}
