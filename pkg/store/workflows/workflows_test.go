package workflows_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store"
	"github.com/hopperq/hopper/pkg/store/accounts"
	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/pkg/store/storetest"
	"github.com/hopperq/hopper/pkg/store/workflows"
	"github.com/hopperq/hopper/pkg/testkit"
)

// plan builds a workflow of noop steps: deps maps each step to its
// parents, forEach a step to its literal elements.
func plan(t *testing.T, policy string, names []string, deps map[string][]string, forEach map[string]int) jobs.WorkflowPlan {
	t.Helper()
	spec := storetest.Spec(t, time.Time{})
	spec.MaxAttempts = 1
	p := jobs.WorkflowPlan{FailurePolicy: policy}
	for _, n := range names {
		st := jobs.PlannedStep{Name: n, Spec: spec, DependsOn: deps[n]}
		if k, ok := forEach[n]; ok {
			st.ForEach = &jobs.ForEach{Items: make([]json.RawMessage, k)}
			for i := range k {
				st.ForEach.Items[i] = json.RawMessage(fmt.Sprint(i))
			}
		}
		p.Steps = append(p.Steps, st)
	}
	return p
}

func newOwner(t *testing.T, s *store.Store) uuid.UUID {
	t.Helper()
	u, err := s.CreateUser(t.Context(), testkit.UniqueName("u")+"@example.com", accounts.RoleUser, "unlimited")
	require.NoError(t, err)
	return u.ID
}

// finishAll claims jobs as distinct workers and ends them in state, all at
// once: each finish is its own transaction, racing the others.
func finishAll(t *testing.T, s *store.Store, list []jobstore.Job, state jobs.State) {
	t.Helper()
	claimed := make([]jobstore.Job, len(list))
	for i, j := range list {
		c, err := s.Claim(t.Context(), j.ID, fmt.Sprintf("w%d", i), storetest.Lease)
		require.NoError(t, err)
		claimed[i] = c
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make([]error, len(claimed))
	for i, c := range claimed {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			// Half say they are a workflow's, half leave it to Finish to
			// find out (the group commit does not write them).
			o := jobstore.Outcome{JobID: c.ID, Attempt: c.Attempt, WorkerID: c.WorkerID, State: state,
				Result: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i)), Error: "boom", Workflow: i%2 == 0}
			_, errs[i] = s.Finish(t.Context(), o)
		}()
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
}

// TestConcurrentParentsReleaseChildOnce is the key invariant: 50 parents
// finishing at the same moment in 50 transactions release their child
// exactly once — as 50 steps, and as one step fanned out 50 wide —
// 10 times each.
func TestConcurrentParentsReleaseChildOnce(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	owner := newOwner(t, s)
	ctx := t.Context()
	parents := make([]string, 50)
	for i := range parents {
		parents[i] = fmt.Sprintf("p%02d", i)
	}
	shapes := map[string]jobs.WorkflowPlan{
		"50 steps":      plan(t, jobs.FailureStop, append(append([]string{}, parents...), "child"), map[string][]string{"child": parents}, nil),
		"fan-out of 50": plan(t, jobs.FailureStop, []string{"wide", "child"}, map[string][]string{"child": {"wide"}}, map[string]int{"wide": 50}),
	}
	for name, p := range shapes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for rep := range 10 {
				c, err := s.CreateWorkflow(ctx, workflows.NewWorkflow{OwnerID: owner, Plan: p, Request: []byte("{}")}, time.Now())
				require.NoError(t, err)
				require.Len(t, c.Jobs, 50)
				finishAll(t, s, c.Jobs, jobs.StateSucceeded)

				d, err := s.GetWorkflow(ctx, &owner, c.Workflow.ID)
				require.NoError(t, err)
				child := d.Steps[len(d.Steps)-1]
				require.Equal(t, "child", child.Name)
				require.Len(t, child.Jobs, 1, "rep %d: the child is released exactly once", rep)
				assert.Equal(t, workflows.StepRunning, child.State)
				assert.Equal(t, 0, child.PendingParents)
				assert.Equal(t, 1, child.JobsTotal)

				// The child sees its parents' results, read from their rows.
				res, err := s.ParentResults(ctx, child.Jobs[0].ID)
				require.NoError(t, err)
				if name == "fan-out of 50" {
					var list []map[string]int
					require.NoError(t, json.Unmarshal(res["wide"], &list))
					require.Len(t, list, 50)
				} else {
					require.Len(t, res, 50)
				}
				if rep == 0 {
					// Bounded, as over HTTP: past the bound nothing is
					// returned; one parent at a time fits.
					_, err = s.ParentResultsUpTo(ctx, child.Jobs[0].ID, "", 200)
					require.ErrorIs(t, err, workflows.ErrParentsTooLarge)
					one := parents[7]
					if name == "fan-out of 50" {
						one = "wide"
					}
					res, err = s.ParentResultsUpTo(ctx, child.Jobs[0].ID, one, 1<<20)
					require.NoError(t, err)
					require.Len(t, res, 1)
					require.Contains(t, res, one)
				}

				finishAll(t, s, []jobstore.Job{{ID: child.Jobs[0].ID}}, jobs.StateSucceeded)
				d, err = s.GetWorkflow(ctx, &owner, c.Workflow.ID)
				require.NoError(t, err)
				assert.Equal(t, workflows.StateSucceeded, d.Workflow.State)
			}
		})
	}
}

// TestReaperFailureResolvesWorkflow: a job whose worker died on its last
// attempt is failed by the reaper, and that end stops the workflow in the
// same transaction: the waiting child is cancelled, the workflow failed.
func TestReaperFailureResolvesWorkflow(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	owner := newOwner(t, s)
	ctx := t.Context()
	p := plan(t, jobs.FailureStop, []string{"a", "b"}, map[string][]string{"b": {"a"}}, nil)
	c, err := s.CreateWorkflow(ctx, workflows.NewWorkflow{OwnerID: owner, Plan: p, Request: []byte("{}")}, time.Now())
	require.NoError(t, err)
	_, err = s.Claim(ctx, c.Jobs[0].ID, "dead", time.Millisecond)
	require.NoError(t, err)
	reaped, err := s.ReapExpired(ctx, time.Now().Add(time.Hour), 10, nil)
	require.NoError(t, err)
	require.Len(t, reaped, 1)
	assert.Equal(t, jobs.StateFailed, reaped[0].State)

	d, err := s.GetWorkflow(ctx, &owner, c.Workflow.ID)
	require.NoError(t, err)
	assert.Equal(t, workflows.StateFailed, d.Workflow.State)
	assert.Equal(t, workflows.StepFailed, d.Steps[0].State)
	assert.Equal(t, workflows.StepCancelled, d.Steps[1].State)
	assert.Empty(t, d.Steps[1].Jobs)
}
