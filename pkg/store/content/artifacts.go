package content

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/pkg/store/pg"
)

// MaxArtifactNameLen bounds an artifact's name.
const MaxArtifactNameLen = 255

// ArtifactInfo describes a file a job consumed or produced, without its
// bytes.
type ArtifactInfo struct {
	JobID       uuid.UUID
	Name        string // e.g. "image.png", "input.wav"
	ContentType string
	SizeBytes   int64
	Sha256      string
	CreatedAt   time.Time
}

// Artifact is an artifact with its bytes.
type Artifact struct {
	ArtifactInfo
	Data []byte
}

// NewArtifact is a file to store with a job.
type NewArtifact struct {
	Name        string
	ContentType string
	Data        []byte
	// Body, when set, streams the bytes instead of Data (bounded memory,
	// for uploads); only CreateJobWithUpload reads it.
	Body UploadBody
}

// checkArtifactName refuses names that could not be served as a URL path
// segment or a download file name.
func checkArtifactName(name string) error {
	switch {
	case name == "" || len(name) > MaxArtifactNameLen:
		return fmt.Errorf("artifact name %q: want 1 to %d bytes", name, MaxArtifactNameLen)
	case name == "." || name == "..":
		return fmt.Errorf("artifact name %q is reserved", name)
	case strings.ContainsFunc(name, func(r rune) bool {
		return r < 0x20 || r == 0x7f || r == '/' || r == '\\' || r == '"'
	}):
		return fmt.Errorf("artifact name %q: no slashes, quotes or control characters", name)
	}
	return nil
}

const putArtifactSQL = `
INSERT INTO job_artifacts (job_id, name, content_type, size_bytes, sha256, data, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (job_id, name) DO UPDATE
SET content_type = EXCLUDED.content_type, size_bytes = EXCLUDED.size_bytes,
    sha256 = EXCLUDED.sha256, data = EXCLUDED.data, created_at = EXCLUDED.created_at`

// putArtifact upserts a with db (the Store's handle or a transaction).
func putArtifact(ctx context.Context, db *gorm.DB, jobID uuid.UUID, a NewArtifact, now time.Time) (ArtifactInfo, error) {
	if err := checkArtifactName(a.Name); err != nil {
		return ArtifactInfo{}, err
	}
	if a.ContentType == "" {
		a.ContentType = "application/octet-stream"
	}
	if a.Data == nil {
		a.Data = []byte{} // data is NOT NULL
	}
	sum := sha256.Sum256(a.Data)
	info := ArtifactInfo{
		JobID: jobID, Name: a.Name, ContentType: a.ContentType, SizeBytes: int64(len(a.Data)),
		Sha256: hex.EncodeToString(sum[:]), CreatedAt: now,
	}
	err := db.WithContext(ctx).Exec(putArtifactSQL,
		jobID, info.Name, info.ContentType, info.SizeBytes, info.Sha256, a.Data, now).Error
	if err != nil {
		return ArtifactInfo{}, err
	}
	return info, nil
}

// PutArtifact stores a as job jobID's artifact, replacing one of the same
// name (a retried attempt writes its output again).
func (s *Store) PutArtifact(ctx context.Context, jobID uuid.UUID, a NewArtifact) (ArtifactInfo, error) {
	info, err := putArtifact(ctx, s.db.Gorm(), jobID, a, time.Now())
	if err != nil {
		return ArtifactInfo{}, fmt.Errorf("put artifact %s of job %s: %w", a.Name, jobID, err)
	}
	return info, nil
}

// GetArtifact returns job jobID's artifact name with its bytes. With
// ownerID set, an artifact of another owner's job is pg.ErrNotFound, as if it
// did not exist; nil means any owner (admins, workers).
func (s *Store) GetArtifact(ctx context.Context, ownerID *uuid.UUID, jobID uuid.UUID, name string) (Artifact, error) {
	q := `SELECT a.job_id, a.name, a.content_type, a.size_bytes, a.sha256, a.created_at, a.data
FROM job_artifacts a JOIN jobs j ON j.id = a.job_id
WHERE a.job_id = ? AND a.name = ?`
	args := []any{jobID, name}
	if ownerID != nil {
		q += ` AND j.owner_id = ?`
		args = append(args, *ownerID)
	}
	var rows []struct {
		ArtifactInfo
		Data []byte
	}
	if err := s.db.Gorm().WithContext(ctx).Raw(q, args...).Scan(&rows).Error; err != nil {
		return Artifact{}, fmt.Errorf("get artifact %s of job %s: %w", name, jobID, err)
	}
	if len(rows) == 0 {
		return Artifact{}, fmt.Errorf("get artifact %s of job %s: %w", name, jobID, pg.ErrNotFound)
	}
	return Artifact{ArtifactInfo: rows[0].ArtifactInfo, Data: rows[0].Data}, nil
}

// ListArtifacts describes job jobID's artifacts by name, without reading
// their bytes.
func (s *Store) ListArtifacts(ctx context.Context, jobID uuid.UUID) ([]ArtifactInfo, error) {
	var out []ArtifactInfo
	err := s.db.Gorm().WithContext(ctx).Raw(`
SELECT job_id, name, content_type, size_bytes, sha256, created_at
FROM job_artifacts WHERE job_id = ? ORDER BY name`, jobID).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list artifacts of job %s: %w", jobID, err)
	}
	return out, nil
}

// CreateJobWithArtifact stores a job and its input artifact in one
// transaction, as CreateDocument does for uploads: the job exists with its
// input, or not at all. The job carries no idempotency key.
func (s *Store) CreateJobWithArtifact(ctx context.Context, nj jobstore.NewJob, a NewArtifact, now time.Time) (jobstore.Job, ArtifactInfo, error) {
	return s.CreateJobWithUpload(ctx, a, func() (jobstore.NewJob, error) { return nj, nil }, now)
}

const insertUploadedArtifactSQL = `
INSERT INTO job_artifacts (job_id, name, content_type, size_bytes, sha256, data, created_at)
VALUES ($1, $2, $3, $4, $5, ` + "%s" + `, $6)`

// CreateJobWithUpload is CreateJobWithArtifact for a streamed input
// (a.Body, else a.Data): the bytes go to Postgres in parts first, then
// build makes the job — its payload may depend on what followed the file
// in the request — and the job and its artifact are stored, all in one
// transaction. An error of a.Body or build is returned wrapped.
func (s *Store) CreateJobWithUpload(ctx context.Context, a NewArtifact, build func() (jobstore.NewJob, error), now time.Time) (jobstore.Job, ArtifactInfo, error) {
	if err := checkArtifactName(a.Name); err != nil {
		return jobstore.Job{}, ArtifactInfo{}, fmt.Errorf("create job with artifact: %w", err)
	}
	if a.ContentType == "" {
		a.ContentType = "application/octet-stream"
	}
	body := a.Body
	if body == nil {
		body = bytesBody(a.Data)
	}
	var (
		job  jobstore.Job
		info ArtifactInfo
	)
	err := s.db.Gorm().WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		q := tx.Statement.ConnPool
		upload, size, sum, err := streamUpload(ctx, q, body)
		if err != nil {
			return err
		}
		nj, err := build()
		if err != nil {
			return err
		}
		if nj.IdempotencyKey != "" {
			return errors.New("idempotency keys are not supported")
		}
		created, err := jobstore.Enqueue(ctx, q, []jobstore.NewJob{nj}, now)
		if err != nil {
			return err
		}
		job = created[0].Job
		info = ArtifactInfo{JobID: job.ID, Name: a.Name, ContentType: a.ContentType, SizeBytes: size, Sha256: sum, CreatedAt: now}
		_, err = q.ExecContext(ctx, fmt.Sprintf(insertUploadedArtifactSQL, assembledUpload(7)),
			job.ID, info.Name, info.ContentType, info.SizeBytes, info.Sha256, now, upload)
		if err != nil {
			return fmt.Errorf("insert artifact %s: %w", a.Name, err)
		}
		return dropParts(ctx, q, upload)
	})
	var qe *pg.QuotaError
	if errors.As(err, &qe) {
		return jobstore.Job{}, ArtifactInfo{}, err
	}
	if err != nil {
		return jobstore.Job{}, ArtifactInfo{}, fmt.Errorf("create job with artifact: %w", err)
	}
	return job, info, nil
}
