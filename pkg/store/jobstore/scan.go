package jobstore

import (
	"database/sql"
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/hopperq/hopper/pkg/jobs"
)

// jobColumns lists the jobs columns scanJob reads, in its order. The hot
// path (group-committed inserts, claims and completions) returns these
// instead of RETURNING * into gorm's reflective Scan, which was most of
// the gateway's and worker's CPU per job (docs/PERFORMANCE.md).
const jobColumns = `id, owner_id, kind, queue, state, priority, payload, result, error, progress,
	status_message, attempt, max_attempts, timeout_ms, webhook_url, notify_email, idempotency_key,
	cancel_requested, worker_id, lease_expires_at, run_at, created_at, updated_at, started_at,
	finished_at, published_at, held, workflow_id, workflow_step, workflow_element`

// scanJobs reads every row of rows (selected as jobColumns) and closes it.
func scanJobs(rows *sql.Rows) ([]Job, error) {
	defer rows.Close()
	var out []Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func scanJob(rows *sql.Rows) (Job, error) {
	var (
		j                                   Job
		state                               string
		payload, result                     []byte
		key, step                           sql.NullString
		lease, started, finished, published sql.NullTime
		workflow                            uuid.NullUUID
		element                             sql.NullInt32
	)
	err := rows.Scan(&j.ID, &j.OwnerID, &j.Kind, &j.Queue, &state, &j.Priority, &payload, &result,
		&j.Error, &j.Progress, &j.StatusMessage, &j.Attempt, &j.MaxAttempts, &j.TimeoutMS, &j.WebhookURL,
		&j.NotifyEmail, &key, &j.CancelRequested, &j.WorkerID, &lease, &j.RunAt, &j.CreatedAt,
		&j.UpdatedAt, &started, &finished, &published, &j.Held,
		&workflow, &step, &element)
	if err != nil {
		return Job{}, err
	}
	j.State = jobs.State(state)
	j.Payload = json.RawMessage(payload)
	if result != nil {
		j.Result = json.RawMessage(result)
	}
	if key.Valid {
		j.IdempotencyKey = &key.String
	}
	j.LeaseExpiresAt = nullTime(lease)
	j.StartedAt = nullTime(started)
	j.FinishedAt = nullTime(finished)
	j.PublishedAt = nullTime(published)
	if workflow.Valid {
		j.WorkflowID = &workflow.UUID
	}
	if step.Valid {
		j.WorkflowStep = &step.String
	}
	if element.Valid {
		e := int(element.Int32)
		j.WorkflowElement = &e
	}
	return j, nil
}

func nullTime(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	return &t.Time
}
