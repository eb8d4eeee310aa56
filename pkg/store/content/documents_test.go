package content_test

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store/content"
	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/pkg/store/pg"
	"github.com/hopperq/hopper/pkg/store/storetest"
)

func ingestFor(t *testing.T, owner uuid.UUID) func(uuid.UUID) (jobstore.NewJob, error) {
	return func(id uuid.UUID) (jobstore.NewJob, error) {
		reg := storetest.Registry(t)
		spec, err := reg.Validate(jobs.SubmitRequest{Kind: storetest.KindIngest, Payload: json.RawMessage(`{"document_id":"` + id.String() + `"}`)})
		require.NoError(t, err)
		return jobstore.NewJob{OwnerID: owner, Spec: spec}, nil
	}
}

func TestDocumentLifecycle(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	alice, bob := storetest.User(t, s), storetest.User(t, s)

	doc, job, err := s.CreateDocument(ctx, content.NewDocument{
		OwnerID: alice.ID, Filename: "notes.txt", ContentType: "text/plain", Format: "txt",
		Data: []byte("hello"), Ingest: ingestFor(t, alice.ID),
	}, time.Now())
	require.NoError(t, err)
	assert.Equal(t, content.DocumentPending, doc.State)
	assert.Equal(t, storetest.KindIngest, job.Kind)
	assert.Equal(t, alice.ID, job.OwnerID)
	require.NotNil(t, doc.IngestJobID)
	assert.Equal(t, job.ID, *doc.IngestJobID)

	data, err := s.DocumentData(ctx, doc.ID)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(data))

	_, err = s.GetDocument(ctx, bob.ID, doc.ID)
	assert.ErrorIs(t, err, pg.ErrNotFound, "another user's document does not exist for bob")

	chunks := []content.Chunk{
		{Index: 0, Content: "The lighthouse keeper painted the door turquoise.", StartOffset: 0, EndOffset: 49},
		{Index: 1, Content: "Supplies arrive by boat every second Tuesday.", StartOffset: 40, EndOffset: 85},
	}
	require.NoError(t, s.ReplaceChunks(ctx, doc, content.IndexedDocument{Title: "Notes", Pages: 1}, chunks))
	got, err := s.GetDocument(ctx, alice.ID, doc.ID)
	require.NoError(t, err)
	assert.Equal(t, content.DocumentReady, got.State)
	assert.Equal(t, 2, got.ChunkCount)
	assert.Equal(t, "Notes", got.Title)

	hits, err := s.SearchChunks(ctx, alice.ID, "What colour did the keeper paint the door?", 5)
	require.NoError(t, err)
	require.NotEmpty(t, hits)
	assert.Equal(t, 0, hits[0].Index)
	assert.Equal(t, doc.ID, hits[0].DocumentID)
	assert.Equal(t, "notes.txt", hits[0].Filename)
	assert.Positive(t, hits[0].Score)

	hits, err = s.SearchChunks(ctx, bob.ID, "What colour did the keeper paint the door?", 5)
	require.NoError(t, err)
	assert.Empty(t, hits, "bob's search never sees alice's chunks")

	for _, q := range []string{"", "the of and", "'); DROP TABLE jobs; --", "a & b | !c <-> d:*"} {
		_, err := s.SearchChunks(ctx, alice.ID, q, 5)
		assert.NoError(t, err, "query %q", q)
	}

	// A re-run replaces the chunks.
	require.NoError(t, s.ReplaceChunks(ctx, doc, content.IndexedDocument{}, chunks[1:]))
	got, err = s.GetDocument(ctx, alice.ID, doc.ID)
	require.NoError(t, err)
	assert.Equal(t, 1, got.ChunkCount)

	require.NoError(t, s.DeleteDocument(ctx, alice.ID, doc.ID))
	_, err = s.DocumentData(ctx, doc.ID)
	assert.ErrorIs(t, err, pg.ErrNotFound)
	hits, err = s.SearchChunks(ctx, alice.ID, "boat Tuesday", 5)
	require.NoError(t, err)
	assert.Empty(t, hits, "deleting a document deletes its chunks")
	assert.ErrorIs(t, s.DeleteDocument(ctx, alice.ID, doc.ID), pg.ErrNotFound)
}

// TestDocumentQuotaConcurrent: parallel uploads never overshoot the quota.
func TestDocumentQuotaConcurrent(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	u := storetest.User(t, s)
	const quota, tries = 3, 8
	var wg sync.WaitGroup
	errs := make(chan error, tries)
	for range tries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := s.CreateDocument(t.Context(), content.NewDocument{
				OwnerID: u.ID, Filename: "a.txt", ContentType: "text/plain", Format: "txt",
				Data: []byte("x"), MaxPerUser: quota, Ingest: ingestFor(t, u.ID),
			}, time.Now())
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	ok, refused := 0, 0
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case assert.ErrorIs(t, err, pg.ErrQuotaExceeded):
			refused++
		}
	}
	assert.Equal(t, quota, ok)
	assert.Equal(t, tries-quota, refused)
	n, err := s.CountDocuments(t.Context(), u.ID)
	require.NoError(t, err)
	assert.Equal(t, int64(quota), n)
}
