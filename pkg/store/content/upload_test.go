package content_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store/content"
	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/pkg/store/storetest"
)

// TestStreamedUploads: a body streamed in several parts (and odd write
// sizes) is stored byte for byte with its size and SHA-256, for a
// document and for a job's artifact; a failing body stores nothing; no
// part outlives its transaction.
func TestStreamedUploads(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	alice := storetest.User(t, s)
	data := bytes.Repeat([]byte("0123456789abcdef"), (content.PartSize*5/2)/16+3) // 2.5 parts and a bit
	body := func(w io.Writer) error {
		for rest := data; len(rest) > 0; {
			n := min(len(rest), 7777)
			if _, err := w.Write(rest[:n]); err != nil {
				return err
			}
			rest = rest[n:]
		}
		return nil
	}

	doc, _, err := s.CreateDocument(ctx, content.NewDocument{
		OwnerID: alice.ID, Filename: "big.txt", ContentType: "text/plain", Format: "txt",
		Body: body, Ingest: ingestFor(t, alice.ID),
	}, time.Now())
	require.NoError(t, err)
	assert.Equal(t, int64(len(data)), doc.SizeBytes)
	assert.Equal(t, sha(data), doc.Sha256)
	got, err := s.DocumentData(ctx, doc.ID)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, got), "document bytes differ")

	spec, err := storetest.Registry(t).Validate(jobs.SubmitRequest{Kind: storetest.KindTranscribe,
		Payload: json.RawMessage(`{"artifact":"input.wav","filename":"memo.wav"}`)})
	require.NoError(t, err)
	job, info, err := s.CreateJobWithUpload(ctx, content.NewArtifact{Name: "input.wav", ContentType: "audio/wav", Body: body},
		func() (jobstore.NewJob, error) { return jobstore.NewJob{OwnerID: alice.ID, Spec: spec}, nil }, time.Now())
	require.NoError(t, err)
	assert.Equal(t, sha(data), info.Sha256)
	art, err := s.GetArtifact(ctx, &alice.ID, job.ID, "input.wav")
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, art.Data), "artifact bytes differ")
	assert.Equal(t, int64(len(data)), art.SizeBytes)

	// A body that fails half-way, or a job that cannot be built, leaves
	// nothing: no job, no document, no parts.
	broken := errors.New("client went away")
	_, _, err = s.CreateDocument(ctx, content.NewDocument{OwnerID: alice.ID, Filename: "x.txt", Format: "txt",
		Body: func(w io.Writer) error {
			_, _ = w.Write(data)
			return broken
		}, Ingest: ingestFor(t, alice.ID)}, time.Now())
	require.ErrorIs(t, err, broken)
	_, _, err = s.CreateJobWithUpload(ctx, content.NewArtifact{Name: "input.wav", Body: body},
		func() (jobstore.NewJob, error) { return jobstore.NewJob{}, broken }, time.Now())
	require.ErrorIs(t, err, broken)
	docs, err := s.ListDocuments(ctx, alice.ID, 10)
	require.NoError(t, err)
	assert.Len(t, docs, 1)
	var parts int64
	require.NoError(t, s.Gorm().WithContext(ctx).Raw(`SELECT count(*) FROM upload_parts`).Scan(&parts).Error)
	assert.Zero(t, parts, "parts are dropped or rolled back with their transaction")
}
