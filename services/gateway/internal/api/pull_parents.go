package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/hopperq/hopper/pkg/httpx"
	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/pkg/store/workflows"
)

// ParentsResponse answers GET /v1/worker/jobs/{id}/parents: the
// workflow step the job runs and its parents' results by step name (a
// fan-out parent's is the list of its elements' results in order).
type ParentsResponse struct {
	Workflow *PullWorkflow              `json:"workflow"`
	Parents  map[string]json.RawMessage `json:"parents"`
}

// pullParents gives a pull worker what Job.ParentResults gives a Go
// worker: the results of the parents of the workflow step a job runs,
// read from the parents' rows when asked (never copied into the job).
// Only while the token holds the job (and, with ?attempt=, that
// attempt): a finished attempt gets 409 lease_lost, another token's job
// 404, as the other job calls. ?step= reads one parent; the answer is
// bounded (pullMaxParentsBytes, else 422).
func (a *API) pullParents(c *gin.Context) {
	id, tok, ok := a.pullJobCall(c)
	if !ok {
		return
	}
	attempt := 0
	if raw := c.Query("attempt"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 {
			httpx.Abort(c, http.StatusBadRequest, httpx.CodeBadRequest, "attempt: want a positive integer", nil)
			return
		}
		attempt = n
	}
	step := c.Query("step")
	if len(step) > jobs.MaxStepNameBytes {
		httpx.Abort(c, http.StatusBadRequest, httpx.CodeBadRequest, "step: too long", nil)
		return
	}
	ctx := c.Request.Context()
	workerID := pullWorkerID(tok)
	job, err := a.db.pull.GetJob(ctx, nil, id)
	if err != nil || job.WorkerID != workerID || job.State != jobs.StateRunning || (attempt > 0 && job.Attempt != attempt) {
		if err == nil {
			err = jobstore.ErrLeaseLost
		}
		a.pullLost(c, "pull parents", id, workerID, err)
		return
	}
	out := ParentsResponse{Parents: map[string]json.RawMessage{}}
	if job.WorkflowID == nil || job.WorkflowStep == nil {
		c.JSON(http.StatusOK, out) // a job outside a workflow has no parents
		return
	}
	out.Workflow = &PullWorkflow{ID: job.WorkflowID.String(), Step: *job.WorkflowStep, Element: job.WorkflowElement}
	res, err := a.db.pull.ParentResultsUpTo(ctx, id, step, pullMaxParentsBytes)
	if errors.Is(err, workflows.ErrParentsTooLarge) {
		httpx.Abort(c, http.StatusUnprocessableEntity, httpx.CodeTooLarge,
			"the parents' results are larger than the limit: read one parent at a time with ?step=",
			map[string]any{"limit_bytes": pullMaxParentsBytes})
		return
	}
	if err != nil {
		a.internalError(c, "pull parents", err)
		return
	}
	out.Parents = res
	c.JSON(http.StatusOK, out)
}
