package content

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Hybrid retrieval tuning.
const (
	// RRFK is Reciprocal Rank Fusion's k: a chunk at 1-based rank r in a
	// ranking scores 1/(RRFK+r); a fused score sums its rankings'.
	RRFK = 60
	// MaxVectorCandidates bounds the vector ranking to the owner's most
	// recent embedded chunks: similarity is computed in Go over each of
	// them (no pgvector index), see docs/ARCHITECTURE.md.
	MaxVectorCandidates = 20000
	// hybridDepth is how deep each ranking is read before fusing (at
	// least the limit asked for).
	hybridDepth = 50
)

// vector is an embedding as a query argument: a real[] literal, or NULL
// when empty. (gorm would expand a bare slice into a list of arguments.)
type vector []float32

// Value implements driver.Valuer.
func (v vector) Value() (driver.Value, error) {
	if len(v) == 0 {
		return nil, nil
	}
	b := make([]byte, 0, len(v)*12+2)
	b = append(b, '{')
	for i, x := range v {
		if i > 0 {
			b = append(b, ',')
		}
		f := float64(x)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("embedding: component %d is %v", i, x)
		}
		b = strconv.AppendFloat(b, f, 'g', -1, 32)
	}
	b = append(b, '}')
	return string(b), nil
}

// ChunkText is a stored chunk's text, for (re)embedding.
type ChunkText struct {
	ID         int64
	DocumentID uuid.UUID
	Index      int
	Content    string
}

// DocumentChunkTexts returns owner's document's chunks in order; none when
// the document is absent or another user's.
func (s *Store) DocumentChunkTexts(ctx context.Context, owner, documentID uuid.UUID) ([]ChunkText, error) {
	var out []ChunkText
	err := s.db.Gorm().WithContext(ctx).Raw(`
SELECT id, document_id, idx AS index, content FROM document_chunks
WHERE owner_id = ? AND document_id = ? ORDER BY idx`, owner, documentID).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("document chunks: %w", err)
	}
	return out, nil
}

// ChunkEmbedding is the vector to store for the chunk ChunkID.
type ChunkEmbedding struct {
	ChunkID int64
	Vector  []float32
}

// maxEmbeddingRowsPerUpdate keeps one UPDATE's arguments small.
const maxEmbeddingRowsPerUpdate = 500

// SetChunkEmbeddings stores the vectors of owner's chunks, a batch per
// statement, and returns how many chunks it updated. Chunks are named by
// id, so a vector computed from a chunk that a re-ingest has since
// replaced lands nowhere rather than on the new text; another owner's
// chunks are never touched.
func (s *Store) SetChunkEmbeddings(ctx context.Context, owner uuid.UUID, embs []ChunkEmbedding) (int64, error) {
	var total int64
	for start := 0; start < len(embs); start += maxEmbeddingRowsPerUpdate {
		end := min(start+maxEmbeddingRowsPerUpdate, len(embs))
		var values strings.Builder
		args := make([]any, 0, (end-start)*2+1)
		for i, e := range embs[start:end] {
			if len(e.Vector) == 0 {
				return total, fmt.Errorf("set chunk embeddings: chunk %d: empty vector", e.ChunkID)
			}
			if i > 0 {
				values.WriteString(",")
			}
			values.WriteString("(?::bigint,?::real[])")
			args = append(args, e.ChunkID, vector(e.Vector))
		}
		args = append(args, owner)
		res := s.db.Gorm().WithContext(ctx).Exec(`
UPDATE document_chunks c SET embedding = v.e
FROM (VALUES `+values.String()+`) AS v(id, e)
WHERE c.id = v.id AND c.owner_id = ?`, args...)
		if res.Error != nil {
			return total, fmt.Errorf("set chunk embeddings: %w", res.Error)
		}
		total += res.RowsAffected
	}
	return total, nil
}

// SearchChunksHybrid ranks owner's chunks twice — full text as
// SearchChunks does, and by cosine similarity of their embeddings to
// queryVec over the owner's MaxVectorCandidates most recent embedded
// chunks — and fuses both rankings with Reciprocal Rank Fusion (k =
// RRFK). A chunk found by either ranking can be returned; each hit carries
// both ranks, its similarity and the fused score. An empty queryVec, or
// no embedded chunks, leaves the full-text ranking alone.
func (s *Store) SearchChunksHybrid(ctx context.Context, owner uuid.UUID, query string, queryVec []float32, limit int) ([]ChunkHit, error) {
	if limit <= 0 {
		return nil, nil
	}
	depth := max(limit, hybridDepth)
	text, err := s.SearchChunks(ctx, owner, query, depth)
	if err != nil {
		return nil, fmt.Errorf("hybrid search: %w", err)
	}
	vec, err := s.vectorRanking(ctx, owner, queryVec, depth)
	if err != nil {
		return nil, fmt.Errorf("hybrid search: %w", err)
	}

	byID := make(map[int64]*ChunkHit, len(text)+len(vec))
	for i, h := range text {
		h.TextRank = i + 1
		h.Score = rrf(h.TextRank)
		byID[h.ChunkID] = &h
	}
	var missing []int64
	for i, v := range vec {
		h, ok := byID[v.id]
		if !ok {
			h = &ChunkHit{ChunkID: v.id}
			byID[v.id] = h
		}
		h.VectorRank = i + 1
		h.Similarity = v.similarity
		h.Score += rrf(h.VectorRank)
	}
	fused := make([]*ChunkHit, 0, len(byID))
	for _, h := range byID {
		fused = append(fused, h)
	}
	sort.Slice(fused, func(i, j int) bool {
		a, b := fused[i], fused[j]
		if a.Score != b.Score {
			return a.Score > b.Score
		}
		if ba, bb := bestRank(a), bestRank(b); ba != bb {
			return ba < bb
		}
		return a.ChunkID < b.ChunkID
	})
	if len(fused) > limit {
		fused = fused[:limit]
	}
	for _, h := range fused {
		if h.TextRank == 0 { // found by vector only: fetch its text
			missing = append(missing, h.ChunkID)
		}
	}
	if len(missing) > 0 {
		var rows []ChunkHit
		err := s.db.Gorm().WithContext(ctx).Raw(`
SELECT c.id AS chunk_id, c.document_id, d.filename, d.title, c.idx AS index, c.content
FROM document_chunks c JOIN documents d ON d.id = c.document_id
WHERE c.owner_id = ? AND c.id IN ?`, owner, missing).Scan(&rows).Error
		if err != nil {
			return nil, fmt.Errorf("hybrid search: read chunks: %w", err)
		}
		for _, r := range rows {
			h := byID[r.ChunkID]
			h.DocumentID, h.Filename, h.Title, h.Index, h.Content = r.DocumentID, r.Filename, r.Title, r.Index, r.Content
		}
	}
	out := make([]ChunkHit, 0, len(fused))
	for _, h := range fused {
		if h.DocumentID == uuid.Nil {
			continue // deleted between the ranking and the read
		}
		out = append(out, *h)
	}
	return out, nil
}

func rrf(rank int) float64 { return 1 / float64(RRFK+rank) }

// bestRank is a hit's best position in either ranking.
func bestRank(h *ChunkHit) int {
	switch {
	case h.TextRank == 0:
		return h.VectorRank
	case h.VectorRank == 0:
		return h.TextRank
	default:
		return min(h.TextRank, h.VectorRank)
	}
}

type vectorHit struct {
	id         int64
	similarity float64
}

// vectorRanking returns owner's chunks most similar to q (cosine), best
// first, at most n, among the MaxVectorCandidates most recent embedded
// chunks. Vectors of another dimension (an older model) are skipped. The
// rows are read through pgx directly: its binary real[] decoding is an
// order of magnitude faster than database/sql's text path.
func (s *Store) vectorRanking(ctx context.Context, owner uuid.UUID, q []float32, n int) ([]vectorHit, error) {
	qn := norm(q)
	if qn == 0 {
		return nil, nil
	}
	conn, err := s.db.SQL().Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("vector ranking: %w", err)
	}
	defer conn.Close()
	var hits []vectorHit
	err = conn.Raw(func(dc any) error {
		pc, ok := dc.(interface{ Conn() *pgx.Conn })
		if !ok {
			return errors.New("the database driver is not pgx")
		}
		rows, err := pc.Conn().Query(ctx, `
SELECT id, embedding FROM document_chunks
WHERE owner_id = $1 AND embedding IS NOT NULL
ORDER BY id DESC LIMIT $2`, owner.String(), MaxVectorCandidates)
		if err != nil {
			return err
		}
		defer rows.Close()
		var (
			id  int64
			emb []float32
		)
		for rows.Next() {
			if err := rows.Scan(&id, &emb); err != nil {
				return err
			}
			if len(emb) != len(q) {
				continue
			}
			if sim := cosine(q, qn, emb); !math.IsNaN(sim) {
				hits = append(hits, vectorHit{id: id, similarity: sim})
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("vector ranking: %w", err)
	}
	sort.Slice(hits, func(i, j int) bool {
		if hits[i].similarity != hits[j].similarity {
			return hits[i].similarity > hits[j].similarity
		}
		return hits[i].id > hits[j].id
	})
	if len(hits) > n {
		hits = hits[:n]
	}
	return hits, nil
}

func norm(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

// cosine is the cosine similarity of q (whose norm is qn) and v, NaN when
// v is all zeros.
func cosine(q []float32, qn float64, v []float32) float64 {
	var dot, vv float64
	for i, x := range v {
		dot += float64(q[i]) * float64(x)
		vv += float64(x) * float64(x)
	}
	if vv == 0 {
		return math.NaN()
	}
	return dot / (qn * math.Sqrt(vv))
}
