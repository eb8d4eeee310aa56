package product

import (
	"encoding/json"
	"fmt"
)

// Limits of the domain payloads.
const (
	MaxQuestionRunes = 2000
	DefaultTopK      = 5
	MaxTopK          = 20
)

// WebhookPayload is maintenance.webhook's payload: deliver the end of the
// finished job JobID to its webhook_url. The event sent is read from the
// job's state when the delivery runs, never from the payload.
type WebhookPayload struct {
	JobID string `json:"job_id" jsonschema:"format=uuid"`
	// Event is ignored; deliveries created before the event was read from
	// the job carry it.
	Event string `json:"event,omitempty" jsonschema:"enum=job.succeeded,enum=job.failed,enum=job.cancelled"`
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
	Role    string `json:"role" jsonschema:"enum=user,enum=assistant"`
	Content string `json:"content" jsonschema:"maxLength=16000"`
}

// ChatPayload is chat.message's payload: the user's message, optionally
// earlier turns and a system prompt. UseDocuments (default true) grounds
// the answer on the owner's documents.
type ChatPayload struct {
	Message      string     `json:"message" jsonschema:"maxLength=16000,pattern=\\S"`
	History      []ChatTurn `json:"history,omitempty" jsonschema:"maxItems=50"`
	System       string     `json:"system,omitempty" jsonschema:"maxLength=16000"`
	UseDocuments *bool      `json:"use_documents,omitempty"`
	TopK         int        `json:"top_k,omitempty" jsonschema:"minimum=0,maximum=20"`
}

// Grounded reports whether the answer should use the owner's documents.
func (p ChatPayload) Grounded() bool { return p.UseDocuments == nil || *p.UseDocuments }

// SearchPayload is chat.search's payload: a web search.
type SearchPayload struct {
	Query string `json:"query" jsonschema:"maxLength=2000,pattern=\\S"`
	Limit int    `json:"limit,omitempty" jsonschema:"minimum=0,maximum=20"` // 0 means DefaultSearchHits
}

// Cleanup scopes.
const (
	CleanupAll       = "all"       // finished jobs and uploads past retention
	CleanupRetention = "retention" // finished jobs past retention only
	CleanupUploads   = "uploads"   // uploads past retention only
)

// CleanupPayload is maintenance.cleanup's payload; an empty scope is "all".
type CleanupPayload struct {
	Scope string `json:"scope,omitempty" jsonschema:"enum=,enum=all,enum=retention,enum=uploads"`
}

// Report window bounds, in days.
const (
	DefaultReportDays = 30
	MaxReportDays     = 365
)

// ReportPayload is maintenance.report's payload: the owner's usage over
// the last Days days (0 means DefaultReportDays).
type ReportPayload struct {
	Days int `json:"days,omitempty" jsonschema:"minimum=0,maximum=365"`
}

// IngestPayload is document.ingest's payload.
type IngestPayload struct {
	DocumentID string `json:"document_id" jsonschema:"format=uuid"`
}

// QAPayload is qa.ask's payload: a question over the owner's documents.
type QAPayload struct {
	Question string `json:"question" jsonschema:"maxLength=2000,pattern=\\S"`
	TopK     int    `json:"top_k,omitempty" jsonschema:"minimum=0,maximum=20"` // passages to retrieve; 0 means DefaultTopK
}

// Decode reads a validated payload into v (used by handlers).
func Decode(payload []byte, v any) error {
	if err := json.Unmarshal(payload, v); err != nil {
		return fmt.Errorf("decode payload: %w", err)
	}
	return nil
}
