package mail

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"net/url"
	"strings"
	texttemplate "text/template"
	"time"
	"unicode/utf8"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

// maxSummary is how many characters of an error or result a notice shows.
const maxSummary = 1000

// JobNotice is what the job-finished notice shows.
type JobNotice struct {
	JobID      string
	Kind       string    // e.g. "document.ingest"
	State      string    // succeeded, failed or cancelled
	Error      string    // the last error, for a failed job
	Result     string    // a short result summary (e.g. compact JSON)
	FinishedAt time.Time // shown in UTC
	// BaseURL is the gateway's public URL; the notice links to the job's
	// dashboard page (BaseURL + "/ui#/jobs/<id>"). Empty = no link.
	BaseURL string
}

// noticeView is the data the templates see.
type noticeView struct {
	JobNotice
	Link string
}

// RenderJobFinished renders the job-finished notice as a Message with
// Subject, Text and HTML set; the caller fills in To. Error and Result are
// cut to 1000 characters.
func RenderJobFinished(n JobNotice) (Message, error) {
	if strings.TrimSpace(n.JobID) == "" || strings.TrimSpace(n.State) == "" {
		return Message{}, errors.New("mail: job notice needs a job id and a state")
	}
	view := noticeView{JobNotice: n}
	if n.BaseURL != "" {
		link, err := jobLink(n.BaseURL, n.JobID)
		if err != nil {
			return Message{}, err
		}
		view.Link = link
	}
	funcs := map[string]any{"short": short, "summary": summary, "when": when}

	var subject, text, html bytes.Buffer
	if err := renderText(&subject, "job_finished.subject.tmpl", funcs, view); err != nil {
		return Message{}, err
	}
	if err := renderText(&text, "job_finished.txt.tmpl", funcs, view); err != nil {
		return Message{}, err
	}
	t, err := htmltemplate.New("job_finished.html.tmpl").Funcs(funcs).ParseFS(templateFS, "templates/job_finished.html.tmpl")
	if err != nil {
		return Message{}, fmt.Errorf("mail: parse html template: %w", err)
	}
	if err := t.Execute(&html, view); err != nil {
		return Message{}, fmt.Errorf("mail: render html template: %w", err)
	}
	return Message{
		Subject: strings.Join(strings.Fields(subject.String()), " "),
		Text:    text.String(),
		HTML:    html.String(),
	}, nil
}

func renderText(buf *bytes.Buffer, name string, funcs map[string]any, data any) error {
	t, err := texttemplate.New(name).Funcs(funcs).ParseFS(templateFS, "templates/"+name)
	if err != nil {
		return fmt.Errorf("mail: parse template %s: %w", name, err)
	}
	if err := t.Execute(buf, data); err != nil {
		return fmt.Errorf("mail: render template %s: %w", name, err)
	}
	return nil
}

// jobLink is the dashboard URL of a job.
func jobLink(base, jobID string) (string, error) {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("mail: base URL %q is not an http(s) URL", base)
	}
	return u.String() + "/ui#/jobs/" + url.PathEscape(jobID), nil
}

// short is the first 8 characters of an id, as the dashboard shows it.
func short(id string) string {
	if len(id) <= 8 {
		return id
	}
	return id[:8]
}

// summary cuts s to maxSummary characters.
func summary(s string) string {
	s = strings.TrimSpace(strings.ToValidUTF8(s, "\uFFFD"))
	if utf8.RuneCountInString(s) <= maxSummary {
		return s
	}
	r := []rune(s)
	return string(r[:maxSummary]) + "…"
}

// when formats a finish time.
func when(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}
