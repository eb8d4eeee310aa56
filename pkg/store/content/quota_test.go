package content_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/store/content"
	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/pkg/store/pg"
	"github.com/hopperq/hopper/pkg/store/storetest"
)

func TestDocumentAndArtifactQuotas(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	u := storetest.User(t, s)
	upload := func(maxDocs, perHour int) error {
		_, _, err := s.CreateDocument(ctx, content.NewDocument{
			OwnerID: u.ID, Filename: "a.txt", ContentType: "text/plain", Format: "txt",
			Data: []byte("hello"), MaxPerUser: maxDocs, Ingest: func(id uuid.UUID) (jobstore.NewJob, error) {
				nj, err := ingestFor(t, u.ID)(id)
				nj.JobsPerHour = perHour
				return nj, err
			},
		}, time.Now())
		return err
	}
	require.NoError(t, upload(2, 3))
	require.NoError(t, upload(2, 3))
	qe := storetest.QuotaErr(t, upload(2, 3))
	assert.Equal(t, pg.LimitDocumentsPerUser, qe.Limit)
	assert.Equal(t, 2, qe.Used)
	assert.Zero(t, qe.RetryAfter)
	// The ingest jobs count against jobs per hour.
	qe = storetest.QuotaErr(t, upload(10, 2))
	assert.Equal(t, pg.LimitJobsPerHour, qe.Limit)

	_, _, err := s.CreateJobWithArtifact(ctx, storetest.LimitedJob(t, u.ID, 2),
		content.NewArtifact{Name: "input.wav", ContentType: "audio/wav", Data: []byte("RIFF")}, time.Now())
	qe = storetest.QuotaErr(t, err)
	assert.Equal(t, 2, qe.Used)
	_, _, err = s.CreateJobWithArtifact(ctx, storetest.LimitedJob(t, u.ID, 3),
		content.NewArtifact{Name: "input.wav", ContentType: "audio/wav", Data: []byte("RIFF")}, time.Now())
	require.NoError(t, err)

	usage, err := s.QuotaUsage(ctx, u.ID, 3, time.Now())
	require.NoError(t, err)
	assert.Equal(t, 3, usage.JobsInWindow)
	assert.Empty(t, usage.Running)
	docs, err := s.CountDocuments(ctx, u.ID)
	require.NoError(t, err)
	assert.EqualValues(t, 2, docs)
}
