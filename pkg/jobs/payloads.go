package jobs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Limits of the domain payloads.
const (
	MaxQuestionRunes = 2000
	DefaultTopK      = 5
	MaxTopK          = 20
)

// decodeStrict decodes a payload into v, refusing unknown fields.
func decodeStrict(payload []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return invalid("payload", "%v", strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

func checkIngestPayload(payload []byte) error {
	var p IngestPayload
	if err := decodeStrict(payload, &p); err != nil {
		return err
	}
	return p.check()
}

func checkQAPayload(payload []byte) error {
	var p QAPayload
	if err := decodeStrict(payload, &p); err != nil {
		return err
	}
	return p.check()
}

func checkWebhookPayload(payload []byte) error {
	var p WebhookPayload
	if err := decodeStrict(payload, &p); err != nil {
		return err
	}
	if _, err := uuid.Parse(p.JobID); err != nil {
		return invalid("payload.job_id", "want a job id")
	}
	if p.Event == "" {
		return invalid("payload.event", "is required")
	}
	return nil
}

// WebhookPayload is maintenance.webhook's payload: deliver the event of
// the finished job JobID to its webhook_url.
type WebhookPayload struct {
	JobID string `json:"job_id"`
	Event string `json:"event"` // job.succeeded, job.failed, job.cancelled
}

// Chat limits.
const (
	MaxChatTurns      = 50
	MaxChatRunes      = 16000 // per turn
	DefaultSearchHits = 5
	MaxSearchHits     = 20
)

// ChatTurn is one earlier turn of a conversation.
type ChatTurn struct {
	Role    string `json:"role"` // user or assistant
	Content string `json:"content"`
}

// ChatPayload is chat.message's payload: the user's message, optionally
// earlier turns and a system prompt. UseDocuments (default true) grounds
// the answer on the owner's documents.
type ChatPayload struct {
	Message      string     `json:"message"`
	History      []ChatTurn `json:"history,omitempty"`
	System       string     `json:"system,omitempty"`
	UseDocuments *bool      `json:"use_documents,omitempty"`
	TopK         int        `json:"top_k,omitempty"`
}

// Grounded reports whether the answer should use the owner's documents.
func (p ChatPayload) Grounded() bool { return p.UseDocuments == nil || *p.UseDocuments }

func checkChatPayload(payload []byte) error {
	var p ChatPayload
	if err := decodeStrict(payload, &p); err != nil {
		return err
	}
	switch {
	case strings.TrimSpace(p.Message) == "":
		return invalid("payload.message", "is required")
	case utf8.RuneCountInString(p.Message) > MaxChatRunes:
		return invalid("payload.message", "longer than %d characters", MaxChatRunes)
	case utf8.RuneCountInString(p.System) > MaxChatRunes:
		return invalid("payload.system", "longer than %d characters", MaxChatRunes)
	case len(p.History) > MaxChatTurns:
		return invalid("payload.history", "more than %d turns", MaxChatTurns)
	case p.TopK < 0 || p.TopK > MaxTopK:
		return invalid("payload.top_k", "%d out of range 0-%d", p.TopK, MaxTopK)
	}
	for i, t := range p.History {
		if t.Role != "user" && t.Role != "assistant" {
			return invalid(fmt.Sprintf("payload.history[%d].role", i), "%q: want user or assistant", t.Role)
		}
		if utf8.RuneCountInString(t.Content) > MaxChatRunes {
			return invalid(fmt.Sprintf("payload.history[%d].content", i), "longer than %d characters", MaxChatRunes)
		}
	}
	return nil
}

// SearchPayload is chat.search's payload: a web search.
type SearchPayload struct {
	Query string `json:"query"`
	Limit int    `json:"limit,omitempty"` // 0 means DefaultSearchHits
}

func checkSearchPayload(payload []byte) error {
	var p SearchPayload
	if err := decodeStrict(payload, &p); err != nil {
		return err
	}
	switch {
	case strings.TrimSpace(p.Query) == "":
		return invalid("payload.query", "is required")
	case utf8.RuneCountInString(p.Query) > MaxQuestionRunes:
		return invalid("payload.query", "longer than %d characters", MaxQuestionRunes)
	case p.Limit < 0 || p.Limit > MaxSearchHits:
		return invalid("payload.limit", "%d out of range 0-%d", p.Limit, MaxSearchHits)
	}
	return nil
}

// Cleanup scopes.
const (
	CleanupAll       = "all"       // finished jobs and uploads past retention
	CleanupRetention = "retention" // finished jobs past retention only
	CleanupUploads   = "uploads"   // uploads past retention only
)

// CleanupPayload is maintenance.cleanup's payload; an empty scope is "all".
type CleanupPayload struct {
	Scope string `json:"scope,omitempty"`
}

func checkCleanupPayload(payload []byte) error {
	var p CleanupPayload
	if err := decodeStrict(payload, &p); err != nil {
		return err
	}
	switch p.Scope {
	case "", CleanupAll, CleanupRetention, CleanupUploads:
		return nil
	}
	return invalid("payload.scope", "%q: want all, retention or uploads", p.Scope)
}

// Report window bounds, in days.
const (
	DefaultReportDays = 30
	MaxReportDays     = 365
)

// ReportPayload is maintenance.report's payload: the owner's usage over
// the last Days days (0 means DefaultReportDays).
type ReportPayload struct {
	Days int `json:"days,omitempty"`
}

func checkReportPayload(payload []byte) error {
	var p ReportPayload
	if err := decodeStrict(payload, &p); err != nil {
		return err
	}
	if p.Days < 0 || p.Days > MaxReportDays {
		return invalid("payload.days", "%d out of range 1-%d", p.Days, MaxReportDays)
	}
	return nil
}

// IngestPayload is document.ingest's payload.
type IngestPayload struct {
	DocumentID string `json:"document_id"`
}

func (p *IngestPayload) check() error {
	if _, err := uuid.Parse(p.DocumentID); err != nil {
		return invalid("payload.document_id", "want a document id")
	}
	return nil
}

// QAPayload is qa.ask's payload: a question over the owner's documents.
type QAPayload struct {
	Question string `json:"question"`
	TopK     int    `json:"top_k,omitempty"` // passages to retrieve; 0 means DefaultTopK
}

func (p *QAPayload) check() error {
	q := strings.TrimSpace(p.Question)
	switch {
	case q == "":
		return invalid("payload.question", "is required")
	case utf8.RuneCountInString(q) > MaxQuestionRunes:
		return invalid("payload.question", "longer than %d characters", MaxQuestionRunes)
	case p.TopK < 0 || p.TopK > MaxTopK:
		return invalid("payload.top_k", "%d out of range 0-%d", p.TopK, MaxTopK)
	}
	return nil
}

// Decode reads a validated payload into v (used by handlers).
func Decode(payload []byte, v any) error {
	if err := json.Unmarshal(payload, v); err != nil {
		return fmt.Errorf("decode payload: %w", err)
	}
	return nil
}
