package product

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/hopperq/hopper/pkg/config"
	"github.com/hopperq/hopper/pkg/hopper"
	"github.com/hopperq/hopper/pkg/schedule"
	"go.uber.org/zap"
)

// The product's kinds (KindEmail, KindDocumentEmbed, KindChatImage and
// KindChatTranscribe live beside their payloads).
const (
	KindChatMessage    = "chat.message"
	KindChatSearch     = "chat.search"
	KindQAAsk          = "qa.ask"
	KindDocumentIngest = "document.ingest"
	KindWebhook        = "maintenance.webhook"
	KindCleanup        = "maintenance.cleanup"
	KindReport         = "maintenance.report"
)

// Services, each running the kinds of its queue.
const (
	ChatWorker        = "chat-worker"
	DocumentWorker    = "document-worker"
	MaintenanceWorker = "maintenance-worker"
)

// kindDef is a product kind: its definition and the Go type its schema
// is derived from (or a schema of its own).
//
// Visibility: a kind whose jobs only a gateway route or a follow-up can
// make sense of is internal (document.ingest needs its upload,
// chat.transcribe its recording, maintenance.webhook is the delivery of
// a finished job's own webhook); one that acts beyond its submitter's
// data or speaks for the operator is admin (maintenance.cleanup sweeps
// every tenant, maintenance.email mails anyone from the operator's
// address — users get mail through notify_email, to their own address).
type kindDef struct {
	spec    hopper.KindSpec
	service string
	schema  func() (json.RawMessage, error)
}

func derived[T any]() func() (json.RawMessage, error) { return hopper.SchemaFor[T] }

func given(schema string) func() (json.RawMessage, error) {
	return func() (json.RawMessage, error) { return json.RawMessage(schema), nil }
}

var defs = []kindDef{
	{service: ChatWorker, schema: derived[ChatPayload](), spec: hopper.KindSpec{Name: KindChatMessage, Queue: "chat",
		Description:     "answer a message with an LLM, grounded on the user's documents",
		DefaultPriority: hopper.PriorityHigh, MaxAttempts: 3, Timeout: 3 * time.Minute, MaxTimeout: 15 * time.Minute,
		BackoffBase: time.Second, BackoffCap: 30 * time.Second}},
	{service: ChatWorker, schema: derived[ImagePayload](), spec: hopper.KindSpec{Name: KindChatImage, Queue: "chat",
		Description: "generate an image", DefaultPriority: hopper.PriorityHigh, MaxAttempts: 3,
		Timeout: 10 * time.Minute, MaxTimeout: 30 * time.Minute, BackoffBase: 2 * time.Second, BackoffCap: time.Minute}},
	{service: ChatWorker, schema: derived[TranscribePayload](), spec: hopper.KindSpec{Name: KindChatTranscribe, Queue: "chat",
		Description: "transcribe a recording (upload it with POST /v1/chat/transcribe)", DefaultPriority: hopper.PriorityHigh,
		Visibility: hopper.VisibilityInternal, MaxAttempts: 3, Timeout: 10 * time.Minute, MaxTimeout: 30 * time.Minute,
		BackoffBase: 2 * time.Second, BackoffCap: time.Minute}},
	{service: ChatWorker, schema: derived[SearchPayload](), spec: hopper.KindSpec{Name: KindChatSearch, Queue: "chat",
		Description: "search the web", DefaultPriority: hopper.PriorityHigh, MaxAttempts: 3,
		Timeout: time.Minute, MaxTimeout: 5 * time.Minute, BackoffBase: time.Second, BackoffCap: 30 * time.Second}},
	{service: ChatWorker, schema: derived[QAPayload](), spec: hopper.KindSpec{Name: KindQAAsk, Queue: "chat",
		Description: "answer a question over the user's documents, with citations", DefaultPriority: hopper.PriorityNormal,
		MaxAttempts: 3, Timeout: 2 * time.Minute, MaxTimeout: 10 * time.Minute, BackoffBase: time.Second, BackoffCap: 30 * time.Second}},
	{service: DocumentWorker, schema: derived[IngestPayload](), spec: hopper.KindSpec{Name: KindDocumentIngest, Queue: "document",
		Description: "extract, chunk and index an uploaded document (upload it with POST /v1/documents)",
		Visibility:  hopper.VisibilityInternal, DefaultPriority: hopper.PriorityNormal, MaxAttempts: 3,
		Timeout: 5 * time.Minute, MaxTimeout: 30 * time.Minute, BackoffBase: 2 * time.Second, BackoffCap: time.Minute}},
	{service: DocumentWorker, schema: derived[EmbedPayload](), spec: hopper.KindSpec{Name: KindDocumentEmbed, Queue: "document",
		Description: "(re)compute the embeddings of the user's documents", DefaultPriority: hopper.PriorityLow, MaxAttempts: 3,
		Timeout: 15 * time.Minute, MaxTimeout: time.Hour, BackoffBase: 5 * time.Second, BackoffCap: 5 * time.Minute}},
	{service: MaintenanceWorker, schema: derived[WebhookPayload](), spec: hopper.KindSpec{Name: KindWebhook, Queue: "maintenance",
		Description: "deliver a signed completion webhook (submit a job with webhook_url)", Visibility: hopper.VisibilityInternal,
		DefaultPriority: hopper.PriorityNormal, MaxAttempts: 8,
		Timeout: 30 * time.Second, MaxTimeout: 2 * time.Minute, BackoffBase: 2 * time.Second, BackoffCap: 10 * time.Minute}},
	{service: MaintenanceWorker, schema: given(emailSchema), spec: hopper.KindSpec{Name: KindEmail, Queue: "maintenance",
		Description: "send mail over SMTP (users: submit a job with notify_email)", Visibility: hopper.VisibilityAdmin,
		DefaultPriority: hopper.PriorityLow, MaxAttempts: 6,
		Timeout: time.Minute, MaxTimeout: 5 * time.Minute, BackoffBase: 5 * time.Second, BackoffCap: 15 * time.Minute}},
	{service: MaintenanceWorker, schema: derived[CleanupPayload](), spec: hopper.KindSpec{Name: KindCleanup, Queue: "maintenance",
		Description: "delete every user's finished jobs and uploads past retention", Visibility: hopper.VisibilityAdmin,
		DefaultPriority: hopper.PriorityLow, MaxAttempts: 3,
		Timeout: 30 * time.Minute, MaxTimeout: 2 * time.Hour, BackoffBase: 10 * time.Second, BackoffCap: 10 * time.Minute}},
	{service: MaintenanceWorker, schema: derived[ReportPayload](), spec: hopper.KindSpec{Name: KindReport, Queue: "maintenance",
		Description: "usage report over N days", DefaultPriority: hopper.PriorityLow, MaxAttempts: 3,
		Timeout: 2 * time.Minute, MaxTimeout: 10 * time.Minute, BackoffBase: 2 * time.Second, BackoffCap: time.Minute}},
}

// Kinds returns the definitions, with their payload schemas, of the kinds
// service runs ("" for every product kind).
func Kinds(service string) ([]hopper.KindSpec, error) {
	var out []hopper.KindSpec
	for _, d := range defs {
		if service != "" && d.service != service {
			continue
		}
		schema, err := d.schema()
		if err != nil {
			return nil, fmt.Errorf("kind %s: %w", d.spec.Name, err)
		}
		spec := d.spec
		spec.Schema = schema
		out = append(out, spec)
	}
	return out, nil
}

// Kind returns the definition of the product kind name.
func Kind(name string) (hopper.KindSpec, error) {
	all, err := Kinds("")
	if err != nil {
		return hopper.KindSpec{}, err
	}
	for _, k := range all {
		if k.Name == name {
			return k, nil
		}
	}
	return hopper.KindSpec{}, fmt.Errorf("product: no kind %q", name)
}

// emailSchema is maintenance.email's payload schema: a plain message
// (to, subject, text and/or html) or a template (to, template, job_id).
// The body's total size is checked by the worker (EmailPayload.Check).
const emailSchema = `{
  "type": "object",
  "properties": {
    "to": {"type": "array", "minItems": 1, "maxItems": 50,
      "items": {"type": "string", "maxLength": 254, "pattern": "^[^\\r\\n]*@[^\\r\\n]*$"}},
    "subject": {"type": "string", "maxLength": 200, "pattern": "^[^\\r\\n]*$"},
    "text": {"type": "string", "maxLength": 131072},
    "html": {"type": "string", "maxLength": 131072},
    "template": {"enum": ["job_finished"]},
    "job_id": {"type": "string", "format": "uuid"}
  },
  "required": ["to"],
  "additionalProperties": false,
  "if": {"required": ["template"]},
  "then": {"required": ["job_id"],
    "not": {"anyOf": [{"required": ["subject"]}, {"required": ["text"]}, {"required": ["html"]}]}},
  "else": {"required": ["subject"], "properties": {"subject": {"pattern": "\\S"}},
    "anyOf": [{"required": ["text"]}, {"required": ["html"]}],
    "not": {"required": ["job_id"]}}
}`

// DefaultSchedules are the maintenance-worker's cron schedules: the
// nightly cleanup and the hourly retention sweep.
func DefaultSchedules() []schedule.Default {
	return []schedule.Default{
		{Name: "cleanup", Spec: "0 2 * * *", Timezone: "UTC", Kind: KindCleanup, Payload: json.RawMessage(`{}`)},
		{Name: "retention", Spec: "@hourly", Timezone: "UTC", Kind: KindCleanup, Payload: json.RawMessage(`{"scope":"retention"}`)},
	}
}

// NewWorker builds service's worker on the SDK with a handler for each of
// the service's kinds, as a user's service registers its own: a kind
// without a handler in handlers makes Run fail at once.
func NewWorker(cfg config.Config, log *zap.Logger, service string, handlers map[string]hopper.HandlerFunc) (*hopper.Worker, error) {
	kinds, err := Kinds(service)
	if err != nil {
		return nil, err
	}
	w, err := hopper.NewWorker(hopper.WorkerConfig{Config: &cfg, Logger: log})
	if err != nil {
		return nil, err
	}
	for _, k := range kinds {
		w.HandleKind(k, handlers[k.Name])
	}
	return w, nil
}
