package jobs_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/jobs"
)

func TestEmailKind(t *testing.T) {
	t.Parallel()
	reg, err := jobs.DefaultRegistry()
	require.NoError(t, err)
	k, ok := reg.Lookup(jobs.KindEmail)
	require.True(t, ok)
	assert.Equal(t, "maintenance", k.Queue)
	assert.Equal(t, jobs.PriorityLow, k.DefaultPriority)
	assert.Greater(t, k.MaxAttempts, 1, "several attempts with backoff")
	assert.Greater(t, k.BackoffCap, k.BackoffBase)
}

func TestEmailPayload(t *testing.T) {
	t.Parallel()
	reg, err := jobs.DefaultRegistry()
	require.NoError(t, err)
	const jobID = "0193b8a0-0000-7000-8000-000000000001"
	many := make([]string, jobs.MaxEmailRecipients+1)
	for i := range many {
		many[i] = fmt.Sprintf("u%d@example.com", i)
	}
	toJSON := func(v []string) string { b, _ := json.Marshal(v); return string(b) }
	tests := []struct {
		name, payload, wantField string
	}{
		{"plain text", `{"to": ["ada@example.com"], "subject": "Hi", "text": "Hello"}`, ""},
		{"plain html", `{"to": ["Ada <ada@example.com>", "bob@example.org"], "subject": "Hi", "html": "<p>Hello</p>"}`, ""},
		{"both bodies", `{"to": ["ada@example.com"], "subject": "Hi", "text": "a", "html": "<p>a</p>"}`, ""},
		{"50 recipients", `{"to": ` + toJSON(many[:jobs.MaxEmailRecipients]) + `, "subject": "Hi", "text": "a"}`, ""},
		{"template", `{"to": ["ada@example.com"], "template": "job_finished", "job_id": "` + jobID + `"}`, ""},

		{"no recipient", `{"subject": "Hi", "text": "a"}`, "payload.to"},
		{"empty to", `{"to": [], "subject": "Hi", "text": "a"}`, "payload.to"},
		{"51 recipients", `{"to": ` + toJSON(many) + `, "subject": "Hi", "text": "a"}`, "payload.to"},
		{"bad address", `{"to": ["ada@example.com", "not an address"], "subject": "Hi", "text": "a"}`, "payload.to[1]"},
		{"header injection", `{"to": ["ada@example.com\r\nBcc: x@example.com"], "subject": "Hi", "text": "a"}`, "payload.to[0]"},
		{"no subject", `{"to": ["ada@example.com"], "text": "a"}`, "payload.subject"},
		{"subject newline", `{"to": ["ada@example.com"], "subject": "Hi\nBcc: x@example.com", "text": "a"}`, "payload.subject"},
		{"long subject", `{"to": ["ada@example.com"], "subject": "` + strings.Repeat("é", jobs.MaxEmailSubjectRunes+1) + `", "text": "a"}`, "payload.subject"},
		{"no body", `{"to": ["ada@example.com"], "subject": "Hi"}`, "payload.text"},
		{"body too large", `{"to": ["ada@example.com"], "subject": "Hi", "text": "` + strings.Repeat("a", jobs.MaxEmailBodyBytes) + `", "html": "b"}`, "payload.text"},
		{"job id without template", `{"to": ["ada@example.com"], "subject": "Hi", "text": "a", "job_id": "` + jobID + `"}`, "payload.job_id"},
		{"unknown template", `{"to": ["ada@example.com"], "template": "welcome", "job_id": "` + jobID + `"}`, "payload.template"},
		{"template without job", `{"to": ["ada@example.com"], "template": "job_finished"}`, "payload.job_id"},
		{"template with subject", `{"to": ["ada@example.com"], "template": "job_finished", "job_id": "` + jobID + `", "subject": "x"}`, "payload.subject"},
		{"unknown field", `{"to": ["ada@example.com"], "subject": "Hi", "text": "a", "cc": ["b@example.com"]}`, "payload"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := reg.Validate(jobs.SubmitRequest{Kind: jobs.KindEmail, Payload: json.RawMessage(tt.payload)})
			if tt.wantField == "" {
				require.NoError(t, err)
				return
			}
			var ve *jobs.ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, tt.wantField, ve.Field, ve.Message)
		})
	}
}

func TestValidateNotifyEmail(t *testing.T) {
	t.Parallel()
	reg, err := jobs.DefaultRegistry()
	require.NoError(t, err)

	spec, err := reg.Validate(jobs.SubmitRequest{Kind: jobs.KindNoop, NotifyEmail: "Ada <ada@example.com>"})
	require.NoError(t, err)
	assert.Equal(t, "ada@example.com", spec.NotifyEmail, "stored as the bare address")

	spec, err = reg.Validate(jobs.SubmitRequest{Kind: jobs.KindNoop})
	require.NoError(t, err)
	assert.Empty(t, spec.NotifyEmail)

	for _, bad := range []string{"nope", "a@b.example\r\nBcc: x@example.com", strings.Repeat("a", 250) + "@example.com", "a@example.com, b@example.com"} {
		_, err := reg.Validate(jobs.SubmitRequest{Kind: jobs.KindNoop, NotifyEmail: bad})
		var ve *jobs.ValidationError
		require.ErrorAs(t, err, &ve, bad)
		assert.Equal(t, "notify_email", ve.Field)
	}
}
