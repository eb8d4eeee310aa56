package content_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store"
	"github.com/hopperq/hopper/pkg/store/accounts"
	"github.com/hopperq/hopper/pkg/store/content"
	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/pkg/store/storetest"
	"github.com/hopperq/hopper/pkg/testkit"
)

// mustIndexedDoc uploads a document for owner and indexes chunks.
func mustIndexedDoc(t *testing.T, s *store.Store, owner uuid.UUID, name string, chunks []content.Chunk) content.Document {
	t.Helper()
	doc, _, err := s.CreateDocument(t.Context(), content.NewDocument{
		OwnerID: owner, Filename: name, ContentType: "text/plain", Format: "txt",
		Data: []byte("x"), Ingest: ingestFor(t, owner),
	}, time.Now())
	require.NoError(t, err)
	require.NoError(t, s.ReplaceChunks(t.Context(), doc, content.IndexedDocument{}, chunks))
	return doc
}

func chunkIndexes(hits []content.ChunkHit) []int {
	out := make([]int, len(hits))
	for i, h := range hits {
		out[i] = h.Index
	}
	return out
}

func TestHybridSearch(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	alice, bob := storetest.User(t, s), storetest.User(t, s)

	doc := mustIndexedDoc(t, s, alice.ID, "island.txt", []content.Chunk{
		{Index: 0, Content: "The lighthouse keeper painted the door turquoise."},
		{Index: 1, Content: "Supplies arrive by boat every second Tuesday."},
		{Index: 2, Content: "The harbour master collects mooring fees."},
		{Index: 3, Content: "Nobody has embedded this sentence yet."},
	})
	// Bob's chunk is the best vector match of every query below.
	mustIndexedDoc(t, s, bob.ID, "bob.txt", []content.Chunk{
		{Index: 0, Content: "Bob's door is painted turquoise too.", Embedding: []float32{0.6, 0.8, 0, 0}},
	})

	texts, err := s.DocumentChunkTexts(ctx, alice.ID, doc.ID)
	require.NoError(t, err)
	require.Len(t, texts, 4)
	none, err := s.DocumentChunkTexts(ctx, bob.ID, doc.ID)
	require.NoError(t, err)
	assert.Empty(t, none, "bob reads none of alice's chunks")

	vecs := [][]float32{{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}}
	embs := make([]content.ChunkEmbedding, 3)
	for i := range embs {
		embs[i] = content.ChunkEmbedding{ChunkID: texts[i].ID, Vector: vecs[i]}
	}
	n, err := s.SetChunkEmbeddings(ctx, bob.ID, embs)
	require.NoError(t, err)
	assert.Zero(t, n, "bob cannot set alice's embeddings")
	n, err = s.SetChunkEmbeddings(ctx, alice.ID, embs)
	require.NoError(t, err)
	assert.Equal(t, int64(3), n)
	n, err = s.SetChunkEmbeddings(ctx, alice.ID, embs)
	require.NoError(t, err)
	assert.Equal(t, int64(3), n, "idempotent")

	// RRF: chunk 0 is first in the text ranking and second in the vector
	// ranking, so it beats chunk 1, first by vector only.
	q := []float32{0.6, 0.8, 0, 0}
	hits, err := s.SearchChunksHybrid(ctx, alice.ID, "What colour is the door?", q, 5)
	require.NoError(t, err)
	require.Equal(t, []int{0, 1, 2}, chunkIndexes(hits), "chunk 3 has no embedding and no matching word")
	assert.Equal(t, 1, hits[0].TextRank)
	assert.Equal(t, 2, hits[0].VectorRank)
	assert.InDelta(t, 1.0/61+1.0/62, hits[0].Score, 1e-12)
	assert.InDelta(t, 0.6, hits[0].Similarity, 1e-6)
	assert.Equal(t, 0, hits[1].TextRank)
	assert.Equal(t, 1, hits[1].VectorRank)
	assert.InDelta(t, 1.0/61, hits[1].Score, 1e-12)
	assert.Equal(t, "Supplies arrive by boat every second Tuesday.", hits[1].Content, "a vector-only hit carries its text")
	assert.Equal(t, "island.txt", hits[1].Filename)
	assert.Equal(t, 3, hits[2].VectorRank)
	assert.InDelta(t, 1.0/63, hits[2].Score, 1e-12)
	for _, h := range hits {
		assert.Equal(t, doc.ID, h.DocumentID, "never bob's chunk")
	}

	// A chunk found only by its vector: no query word occurs in any chunk.
	hits, err = s.SearchChunksHybrid(ctx, alice.ID, "xylophone quartet", []float32{0.1, 0.2, 0.9, 0}, 1)
	require.NoError(t, err)
	require.Len(t, hits, 1)
	assert.Equal(t, 2, hits[0].Index)
	assert.Equal(t, 0, hits[0].TextRank)
	assert.Equal(t, 1, hits[0].VectorRank)

	// Without a query vector, or with one of another dimension, the
	// full-text ranking stands alone.
	for _, qv := range [][]float32{nil, {1, 0, 0}, {0, 0, 0, 0}} {
		hits, err = s.SearchChunksHybrid(ctx, alice.ID, "turquoise door", qv, 5)
		require.NoError(t, err)
		require.Equal(t, []int{0}, chunkIndexes(hits), "%v", qv)
		assert.Equal(t, 1, hits[0].TextRank)
		assert.Zero(t, hits[0].VectorRank)
	}

	// Bob sees his chunk only.
	hits, err = s.SearchChunksHybrid(ctx, bob.ID, "lighthouse supplies harbour", []float32{1, 0, 0, 0}, 10)
	require.NoError(t, err)
	require.Len(t, hits, 1)
	assert.Equal(t, "bob.txt", hits[0].Filename)

	// A re-ingest replaces the chunks: vectors computed for the old ones
	// land nowhere, and ReplaceChunks stores the new chunks' own.
	require.NoError(t, s.ReplaceChunks(ctx, doc, content.IndexedDocument{}, []content.Chunk{
		{Index: 0, Content: "Ferries replaced the supply boat.", Embedding: []float32{0, 0, 0, 1}},
	}))
	n, err = s.SetChunkEmbeddings(ctx, alice.ID, embs)
	require.NoError(t, err)
	assert.Zero(t, n)
	hits, err = s.SearchChunksHybrid(ctx, alice.ID, "zzz", []float32{0, 0, 0.1, 1}, 5)
	require.NoError(t, err)
	require.Len(t, hits, 1)
	assert.Equal(t, "Ferries replaced the supply boat.", hits[0].Content)
	assert.Equal(t, 1, hits[0].VectorRank)

	_, err = s.SetChunkEmbeddings(ctx, alice.ID, []content.ChunkEmbedding{{ChunkID: 1}})
	assert.Error(t, err, "an empty vector is refused")
}

// BenchmarkSearchChunksHybrid measures one hybrid search over 5,000
// embedded chunks of 384 dimensions (the figure in docs/ARCHITECTURE.md):
// go test -run - -bench SearchChunksHybrid ./store/
func BenchmarkSearchChunksHybrid(b *testing.B) {
	ctx := b.Context()
	s, err := store.Open(ctx, testkit.DatabaseURL(b), store.Options{})
	require.NoError(b, err)
	b.Cleanup(func() { _ = s.Close() })
	require.NoError(b, s.Migrate(ctx))
	u, err := s.CreateUser(ctx, testkit.UniqueName("u")+"@example.com", accounts.RoleUser, "")
	require.NoError(b, err)
	const n, dims = 5000, 384
	r := rand.New(rand.NewPCG(1, 2))
	randVec := func() []float32 {
		v := make([]float32, dims)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		return v
	}
	chunks := make([]content.Chunk, n)
	for i := range chunks {
		chunks[i] = content.Chunk{Index: i, Content: fmt.Sprintf("passage %d about topic %d", i, i%97), Embedding: randVec()}
	}
	doc, _, err := s.CreateDocument(ctx, content.NewDocument{
		OwnerID: u.ID, Filename: "big.txt", ContentType: "text/plain", Format: "txt", Data: []byte("x"),
		Ingest: func(id uuid.UUID) (jobstore.NewJob, error) {
			reg, err := jobs.DefaultRegistry()
			if err != nil {
				return jobstore.NewJob{}, err
			}
			spec, err := reg.Validate(jobs.SubmitRequest{Kind: storetest.KindIngest, Payload: json.RawMessage(`{"document_id":"` + id.String() + `"}`)})
			return jobstore.NewJob{OwnerID: u.ID, Spec: spec}, err
		},
	}, time.Now())
	require.NoError(b, err)
	require.NoError(b, s.ReplaceChunks(ctx, doc, content.IndexedDocument{}, chunks))
	q := randVec()
	b.ResetTimer()
	for b.Loop() {
		hits, err := s.SearchChunksHybrid(ctx, u.ID, "passage about topic 42", q, 5)
		require.NoError(b, err)
		require.Len(b, hits, 5)
	}
}
