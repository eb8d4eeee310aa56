package hopper

import (
	"context"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Get returns job id with its timeline and artifacts. Another user's job
// is ErrNotFound, like a missing one.
func (c *Client) Get(ctx context.Context, id string) (JobInfo, error) {
	job, err := c.getJob(ctx, id)
	if err != nil {
		return JobInfo{}, fmt.Errorf("hopper: get job %s: %w", id, err)
	}
	return job, nil
}

func (c *Client) getJob(ctx context.Context, id string) (JobInfo, error) {
	path, err := jobPath(id, "")
	if err != nil {
		return JobInfo{}, err
	}
	var job JobInfo
	_, err = c.call(ctx, http.MethodGet, path, nil, nil, nil, &job)
	return job, err
}

// List returns one page of the caller's jobs, newest first. Pass the
// page's NextCursor as the next filter's Cursor; ListAll does that for
// you.
func (c *Client) List(ctx context.Context, f JobFilter) (JobList, error) {
	q := url.Values{}
	if len(f.States) > 0 {
		states := make([]string, len(f.States))
		for i, s := range f.States {
			states[i] = string(s)
		}
		q.Set("state", strings.Join(states, ","))
	}
	if f.Kind != "" {
		q.Set("kind", f.Kind)
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.Cursor != "" {
		q.Set("cursor", f.Cursor)
	}
	var list JobList
	if _, err := c.call(ctx, http.MethodGet, "/v1/jobs", q, nil, nil, &list); err != nil {
		return JobList{}, fmt.Errorf("hopper: list jobs: %w", err)
	}
	return list, nil
}

// ListAll iterates over every job f selects, newest first, fetching pages
// of f.Limit as it goes. An error ends the sequence as its last pair.
func (c *Client) ListAll(ctx context.Context, f JobFilter) iter.Seq2[JobInfo, error] {
	return func(yield func(JobInfo, error) bool) {
		for {
			page, err := c.List(ctx, f)
			if err != nil {
				yield(JobInfo{}, err)
				return
			}
			for _, j := range page.Jobs {
				if !yield(j, nil) {
					return
				}
			}
			if page.NextCursor == "" {
				return
			}
			f.Cursor = page.NextCursor
		}
	}
}

// Cancel cancels job id. A waiting job is cancelled at once (State
// cancelled); a running one is asked to stop (CancelRequested, still
// running until its worker stops it: Wait for the end). A job already
// over is ErrConflict.
func (c *Client) Cancel(ctx context.Context, id string) (JobInfo, error) {
	var job JobInfo
	path, err := jobPath(id, "")
	if err == nil {
		_, err = c.call(ctx, http.MethodDelete, path, nil, nil, nil, &job)
	}
	if err != nil {
		return JobInfo{}, fmt.Errorf("hopper: cancel job %s: %w", id, err)
	}
	return job, nil
}

// Retry runs a failed or cancelled job again, with its kind's attempts;
// any other state is ErrConflict.
func (c *Client) Retry(ctx context.Context, id string) (JobInfo, error) {
	var job JobInfo
	path, err := jobPath(id, "/retry")
	if err == nil {
		_, err = c.call(ctx, http.MethodPost, path, nil, nil, nil, &job)
	}
	if err != nil {
		return JobInfo{}, fmt.Errorf("hopper: retry job %s: %w", id, err)
	}
	return job, nil
}
