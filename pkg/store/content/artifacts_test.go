package content_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestArtifactPutGetList: artifacts are upserted per (job, name), listed
// without bytes, read only within the job owner's scope, and deleted with
// their job.
func TestArtifactPutGetList(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	alice, bob := storetest.User(t, s), storetest.User(t, s)
	job := storetest.Job(t, s, alice.ID)

	list, err := s.ListArtifacts(ctx, job.ID)
	require.NoError(t, err)
	assert.Empty(t, list)

	png := []byte("\x89PNG\r\n\x1a\nnot really")
	info, err := s.PutArtifact(ctx, job.ID, content.NewArtifact{Name: "image.png", ContentType: "image/png", Data: png})
	require.NoError(t, err)
	assert.Equal(t, int64(len(png)), info.SizeBytes)
	assert.Equal(t, sha(png), info.Sha256)
	_, err = s.PutArtifact(ctx, job.ID, content.NewArtifact{Name: "notes.txt", ContentType: "text/plain", Data: []byte("hi")})
	require.NoError(t, err)

	got, err := s.GetArtifact(ctx, &alice.ID, job.ID, "image.png")
	require.NoError(t, err)
	assert.Equal(t, png, got.Data)
	assert.Equal(t, "image/png", got.ContentType)
	assert.Equal(t, job.ID, got.JobID)
	assert.Equal(t, sha(png), got.Sha256)

	// Admins and workers read without an owner scope; bob cannot.
	_, err = s.GetArtifact(ctx, nil, job.ID, "image.png")
	require.NoError(t, err)
	_, err = s.GetArtifact(ctx, &bob.ID, job.ID, "image.png")
	assert.ErrorIs(t, err, pg.ErrNotFound)
	_, err = s.GetArtifact(ctx, &alice.ID, job.ID, "missing.png")
	assert.ErrorIs(t, err, pg.ErrNotFound)
	_, err = s.GetArtifact(ctx, &alice.ID, uuid.New(), "image.png")
	assert.ErrorIs(t, err, pg.ErrNotFound)

	// A retried attempt replaces its output.
	again := []byte("\x89PNG\r\n\x1a\nsecond attempt")
	_, err = s.PutArtifact(ctx, job.ID, content.NewArtifact{Name: "image.png", ContentType: "image/png", Data: again})
	require.NoError(t, err)
	got, err = s.GetArtifact(ctx, &alice.ID, job.ID, "image.png")
	require.NoError(t, err)
	assert.Equal(t, again, got.Data)

	list, err = s.ListArtifacts(ctx, job.ID)
	require.NoError(t, err)
	require.Len(t, list, 2)
	assert.Equal(t, "image.png", list[0].Name)
	assert.Equal(t, int64(len(again)), list[0].SizeBytes)
	assert.Equal(t, "notes.txt", list[1].Name)
	assert.Equal(t, "text/plain", list[1].ContentType)

	for _, bad := range []string{"", "a/b", "..", `x"y`, "line\nbreak"} {
		_, err = s.PutArtifact(ctx, job.ID, content.NewArtifact{Name: bad, Data: []byte("x")})
		assert.Error(t, err, "name %q", bad)
	}
	_, err = s.PutArtifact(ctx, uuid.New(), content.NewArtifact{Name: "orphan.bin", Data: []byte("x")})
	assert.Error(t, err, "an artifact needs its job")

	// Artifacts go with their job.
	_, err = s.Cancel(ctx, &alice.ID, job.ID)
	require.NoError(t, err)
	n, err := s.DeleteFinishedJobs(ctx, jobs.StateCancelled, time.Now().Add(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)
	list, err = s.ListArtifacts(ctx, job.ID)
	require.NoError(t, err)
	assert.Empty(t, list)
}

// TestArtifactCreateJobWithArtifact: the job and its input are stored in
// one transaction.
func TestArtifactCreateJobWithArtifact(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	alice := storetest.User(t, s)
	reg := storetest.Registry(t)
	spec, err := reg.Validate(jobs.SubmitRequest{Kind: storetest.KindTranscribe,
		Payload: json.RawMessage(`{"artifact":"input.wav","filename":"memo.wav"}`)})
	require.NoError(t, err)

	wav := []byte("RIFF....WAVEfmt ")
	job, info, err := s.CreateJobWithArtifact(ctx, jobstore.NewJob{OwnerID: alice.ID, Spec: spec},
		content.NewArtifact{Name: "input.wav", ContentType: "audio/wav", Data: wav}, time.Now())
	require.NoError(t, err)
	assert.Equal(t, storetest.KindTranscribe, job.Kind)
	assert.Equal(t, jobs.StateQueued, job.State)
	assert.Equal(t, job.ID, info.JobID)
	got, err := s.GetArtifact(ctx, &alice.ID, job.ID, "input.wav")
	require.NoError(t, err)
	assert.Equal(t, wav, got.Data)
	assert.Equal(t, "audio/wav", got.ContentType)

	// A bad artifact stores no job either.
	before, _, err := s.ListJobs(ctx, jobstore.ListFilter{OwnerID: &alice.ID})
	require.NoError(t, err)
	_, _, err = s.CreateJobWithArtifact(ctx, jobstore.NewJob{OwnerID: alice.ID, Spec: spec},
		content.NewArtifact{Name: "bad/name", Data: wav}, time.Now())
	require.Error(t, err)
	_, _, err = s.CreateJobWithArtifact(ctx, jobstore.NewJob{OwnerID: uuid.New(), Spec: spec},
		content.NewArtifact{Name: "input.wav", Data: wav}, time.Now())
	require.Error(t, err, "unknown owner: the insert fails, nothing is left behind")
	after, _, err := s.ListJobs(ctx, jobstore.ListFilter{OwnerID: &alice.ID})
	require.NoError(t, err)
	assert.Len(t, after, len(before))
}
