package mail_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/mail"
	"github.com/hopperq/hopper/pkg/mail/mailtest"
)

func TestRenderJobFinished(t *testing.T) {
	t.Parallel()
	finished := time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("CET", 3600))
	const id = "0190a3b2-7c1d-7e4f-9a8b-123456789abc"
	tests := []struct {
		name        string
		notice      mail.JobNotice
		wantSubject string
		wantText    []string
		wantHTML    []string
		notText     []string
		notHTML     []string
	}{
		{
			name: "failed with error and link",
			notice: mail.JobNotice{JobID: id, Kind: "document.ingest", State: "failed",
				Error: `pdf: bad xref <script>alert("x")</script>`, FinishedAt: finished,
				BaseURL: "https://hopper.example.com/"},
			wantSubject: "[Hopper] document.ingest failed (job 0190a3b2)",
			wantText: []string{"Job:      " + id, "Kind:     document.ingest", "State:    failed",
				"Finished: 2026-03-04 04:06:07 UTC", `pdf: bad xref <script>alert("x")</script>`,
				"Details: https://hopper.example.com/ui#/jobs/" + id},
			wantHTML: []string{"<code>" + id + "</code>", "document.ingest", "failed", "2026-03-04 04:06:07 UTC",
				"pdf: bad xref &lt;script&gt;", `href="https://hopper.example.com/ui#/jobs/` + id + `"`},
			notText: []string{"Result:"},
			notHTML: []string{"<script>", "<h3>Result</h3>"},
		},
		{
			name: "succeeded with result, no link",
			notice: mail.JobNotice{JobID: id, Kind: "maintenance.report", State: "succeeded",
				Result: `{"jobs":12}`, FinishedAt: finished},
			wantSubject: "[Hopper] maintenance.report succeeded (job 0190a3b2)",
			wantText:    []string{"Result:\n{\"jobs\":12}", "State:    succeeded"},
			wantHTML:    []string{"<h3>Result</h3>", "{&#34;jobs&#34;:12}"},
			notText:     []string{"Error:", "Details:"},
			notHTML:     []string{"<a ", "<h3>Error</h3>"},
		},
		{
			name:        "long error is cut, unknown finish time",
			notice:      mail.JobNotice{JobID: "j1", Kind: "chat.message", State: "failed", Error: strings.Repeat("é", 1500)},
			wantSubject: "[Hopper] chat.message failed (job j1)",
			wantText:    []string{strings.Repeat("é", 1000) + "…", "Finished: unknown"},
			notText:     []string{strings.Repeat("é", 1001)},
		},
		{
			name:        "newlines cannot reach the subject",
			notice:      mail.JobNotice{JobID: "j1", Kind: "chat.message\r\nBcc: evil@example.com", State: "failed"},
			wantSubject: "[Hopper] chat.message Bcc: evil@example.com failed (job j1)",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, err := mail.RenderJobFinished(tc.notice)
			require.NoError(t, err)
			assert.Empty(t, m.To)
			assert.Equal(t, tc.wantSubject, m.Subject)
			for _, s := range tc.wantText {
				assert.Contains(t, m.Text, s)
			}
			for _, s := range tc.notText {
				assert.NotContains(t, m.Text, s)
			}
			for _, s := range tc.wantHTML {
				assert.Contains(t, m.HTML, s)
			}
			for _, s := range tc.notHTML {
				assert.NotContains(t, m.HTML, s)
			}
		})
	}
}

func TestRenderJobFinishedRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		notice mail.JobNotice
	}{
		{name: "no job id", notice: mail.JobNotice{State: "failed"}},
		{name: "no state", notice: mail.JobNotice{JobID: "j1"}},
		{name: "javascript base URL", notice: mail.JobNotice{JobID: "j1", State: "failed", BaseURL: "javascript:alert(1)"}},
		{name: "relative base URL", notice: mail.JobNotice{JobID: "j1", State: "failed", BaseURL: "/hopper"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := mail.RenderJobFinished(tc.notice)
			require.Error(t, err)
		})
	}
}

func TestRenderedNoticeIsSent(t *testing.T) {
	t.Parallel()
	srv := mailtest.Start(t, mailtest.Options{})
	s := newSender(t, srv, nil)
	m, err := mail.RenderJobFinished(mail.JobNotice{JobID: "0190a3b2-7c1d", Kind: "qa.ask", State: "succeeded",
		Result: "42", FinishedAt: time.Now(), BaseURL: "http://127.0.0.1:8080"})
	require.NoError(t, err)
	m.To = []string{"ada@example.com"}

	require.NoError(t, s.Send(context.Background(), m))

	msgs := srv.Messages()
	require.Len(t, msgs, 1)
	pm := mailtest.Decode(t, msgs[0].Data)
	assert.Equal(t, "[Hopper] qa.ask succeeded (job 0190a3b2)", pm.Header.Get("Subject"))
	assert.Contains(t, pm.Parts["text/plain"], "Details: http://127.0.0.1:8080/ui#/jobs/0190a3b2-7c1d")
	assert.Contains(t, pm.Parts["text/html"], `href="http://127.0.0.1:8080/ui#/jobs/0190a3b2-7c1d"`)
}
