package product_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/product"
	"github.com/hopperq/hopper/pkg/schedule"
)

const jobID = "0193b8a0-0000-7000-8000-000000000001"

// TestKinds: every product kind is defined for one built-in service, with
// a payload schema that compiles.
func TestKinds(t *testing.T) {
	all, err := product.Kinds("")
	require.NoError(t, err)
	byService := 0
	for _, svc := range []string{product.ChatWorker, product.DocumentWorker, product.MaintenanceWorker} {
		ks, err := product.Kinds(svc)
		require.NoError(t, err)
		require.NotEmpty(t, ks, svc)
		byService += len(ks)
	}
	assert.Equal(t, len(all), byService, "each kind belongs to one service")
	for _, k := range all {
		_, err := jobs.CompileSchema(k.Schema)
		require.NoError(t, err, k.Name)
	}
	visibility := map[string]jobs.Visibility{}
	for _, k := range all {
		visibility[k.Name] = k.Visibility
	}
	assert.Equal(t, map[string]jobs.Visibility{
		product.KindChatMessage: "", product.KindChatImage: "", product.KindChatSearch: "", product.KindQAAsk: "",
		product.KindDocumentEmbed: "", product.KindReport: "",
		// Their routes create them (an upload, a recording) or the
		// dispatcher does (a finished job's webhook).
		product.KindChatTranscribe: jobs.VisibilityInternal, product.KindDocumentIngest: jobs.VisibilityInternal,
		product.KindWebhook: jobs.VisibilityInternal,
		// Every tenant's sweep; mail from the operator's address to anyone.
		product.KindCleanup: jobs.VisibilityAdmin, product.KindEmail: jobs.VisibilityAdmin,
	}, visibility, "who may submit each product kind")

	email, err := product.Kind(product.KindEmail)
	require.NoError(t, err)
	assert.Equal(t, "maintenance", email.Queue)
	assert.Equal(t, jobs.PriorityLow, email.DefaultPriority)
	assert.Greater(t, email.BackoffCap, email.BackoffBase)
}

// TestPayloadSchemas: what the gateway accepts of each product kind, as
// its schema decides. field "" means accepted.
func TestPayloadSchemas(t *testing.T) {
	many := make([]string, product.MaxEmailRecipients+1)
	for i := range many {
		many[i] = fmt.Sprintf("u%d@example.com", i)
	}
	toJSON := func(v []string) string { b, _ := json.Marshal(v); return string(b) }
	tests := []struct{ kind, payload, field string }{
		{product.KindQAAsk, `{"question": "What is the door colour?"}`, ""},
		{product.KindQAAsk, `{"question": "Why?", "top_k": 20}`, ""},
		{product.KindQAAsk, `{}`, "payload.question"},
		{product.KindQAAsk, `{"question": "   "}`, "payload.question"},
		{product.KindQAAsk, `{"question": "x", "top_k": 21}`, "payload.top_k"},
		{product.KindQAAsk, `{"question": "x", "extra": 1}`, "payload.extra"},
		{product.KindQAAsk, `{"question": "` + strings.Repeat("é", product.MaxQuestionRunes+1) + `"}`, "payload.question"},
		{product.KindDocumentIngest, `{"document_id": "` + jobID + `"}`, ""},
		{product.KindDocumentIngest, `{"document_id": "nope"}`, "payload.document_id"},
		{product.KindDocumentEmbed, `{}`, ""},
		{product.KindDocumentEmbed, `{"document_id": "` + jobID + `"}`, ""},
		{product.KindDocumentEmbed, `{"document_id": ""}`, ""},
		{product.KindDocumentEmbed, `{"document_id": "nope"}`, "payload.document_id"},
		{product.KindDocumentEmbed, `{"document_id": 7}`, "payload.document_id"},
		{product.KindDocumentEmbed, `{"all": true}`, "payload.all"},
		{product.KindChatMessage, `{"message": "hi", "history": [{"role": "user", "content": "a"}], "use_documents": false}`, ""},
		{product.KindChatMessage, `{"message": ""}`, "payload.message"},
		{product.KindChatMessage, `{"message": "hi", "history": [{"role": "system", "content": "a"}]}`, "payload.history[0].role"},
		{product.KindChatMessage, `{"message": "hi", "top_k": 99}`, "payload.top_k"},
		{product.KindChatSearch, `{"query": "go"}`, ""},
		{product.KindChatSearch, `{"query": "go", "limit": 21}`, "payload.limit"},
		{product.KindCleanup, `{}`, ""},
		{product.KindCleanup, `{"scope": "uploads"}`, ""},
		{product.KindCleanup, `{"scope": "everything"}`, "payload.scope"},
		{product.KindReport, `{"days": 365}`, ""},
		{product.KindReport, `{"days": 366}`, "payload.days"},
		{product.KindWebhook, `{"job_id": "` + jobID + `", "event": "job.succeeded"}`, ""},
		{product.KindWebhook, `{"job_id": "` + jobID + `"}`, ""},
		{product.KindWebhook, `{"job_id": "x", "event": "job.succeeded"}`, "payload.job_id"},
		{product.KindChatImage, `{"prompt":"a red fox"}`, ""},
		{product.KindChatImage, `{"prompt":"a red fox","size":"1024x1024"}`, ""},
		{product.KindChatImage, `{"prompt":"a red fox","size":"64x4096"}`, ""},
		{product.KindChatImage, `{"prompt":"a red fox","size":"auto"}`, ""},
		{product.KindChatImage, `{"prompt":"  "}`, "payload.prompt"},
		{product.KindChatImage, `{"prompt":"` + strings.Repeat("é", product.MaxImagePromptRunes+1) + `"}`, "payload.prompt"},
		{product.KindChatImage, `{"prompt":"x","size":"big"}`, "payload.size"},
		{product.KindChatImage, `{"prompt":"x","size":"63x64"}`, "payload.size"},
		{product.KindChatImage, `{"prompt":"x","size":"1024x4097"}`, "payload.size"},
		{product.KindChatImage, `{"prompt":"x","n":2}`, "payload.n"},
		{product.KindChatTranscribe, `{"artifact":"input.wav","language":"en"}`, ""},
		{product.KindChatTranscribe, `{"artifact":"image.png"}`, "payload.artifact"},
		{product.KindChatTranscribe, `{}`, "payload.artifact"},
		{product.KindChatTranscribe, `{"artifact":"input.mp3","language":"English"}`, "payload.language"},
		{product.KindEmail, `{"to": ["ada@example.com"], "subject": "Hi", "text": "Hello"}`, ""},
		{product.KindEmail, `{"to": ["Ada <ada@example.com>", "bob@example.org"], "subject": "Hi", "html": "<p>Hello</p>"}`, ""},
		{product.KindEmail, `{"to": ` + toJSON(many[:product.MaxEmailRecipients]) + `, "subject": "Hi", "text": "a"}`, ""},
		{product.KindEmail, `{"to": ["ada@example.com"], "template": "job_finished", "job_id": "` + jobID + `"}`, ""},
		{product.KindEmail, `{"subject": "Hi", "text": "a"}`, "payload.to"},
		{product.KindEmail, `{"to": [], "subject": "Hi", "text": "a"}`, "payload.to"},
		{product.KindEmail, `{"to": ` + toJSON(many) + `, "subject": "Hi", "text": "a"}`, "payload.to"},
		{product.KindEmail, `{"to": ["ada@example.com", "not an address"], "subject": "Hi", "text": "a"}`, "payload.to[1]"},
		{product.KindEmail, `{"to": ["ada@example.com\r\nBcc: x@example.com"], "subject": "Hi", "text": "a"}`, "payload.to[0]"},
		{product.KindEmail, `{"to": ["ada@example.com"], "text": "a"}`, "payload.subject"},
		{product.KindEmail, `{"to": ["ada@example.com"], "subject": " ", "text": "a"}`, "payload.subject"},
		{product.KindEmail, `{"to": ["ada@example.com"], "subject": "Hi\nBcc: x@example.com", "text": "a"}`, "payload.subject"},
		{product.KindEmail, `{"to": ["ada@example.com"], "subject": "` + strings.Repeat("é", product.MaxEmailSubjectRunes+1) + `", "text": "a"}`, "payload.subject"},
		{product.KindEmail, `{"to": ["ada@example.com"], "subject": "Hi"}`, "payload.html"},
		{product.KindEmail, `{"to": ["ada@example.com"], "subject": "Hi", "text": "a", "job_id": "` + jobID + `"}`, "payload"},
		{product.KindEmail, `{"to": ["ada@example.com"], "template": "welcome", "job_id": "` + jobID + `"}`, "payload.template"},
		{product.KindEmail, `{"to": ["ada@example.com"], "template": "job_finished"}`, "payload.job_id"},
		{product.KindEmail, `{"to": ["ada@example.com"], "template": "job_finished", "job_id": "` + jobID + `", "subject": "x"}`, "payload"},
		{product.KindEmail, `{"to": ["ada@example.com"], "subject": "Hi", "text": "a", "cc": ["b@example.com"]}`, "payload.cc"},
	}
	checks := map[string]func([]byte) error{}
	for _, tt := range tests {
		check, ok := checks[tt.kind]
		if !ok {
			k, err := product.Kind(tt.kind)
			require.NoError(t, err)
			check, err = jobs.CompileSchema(k.Schema)
			require.NoError(t, err)
			checks[tt.kind] = check
		}
		err := check([]byte(tt.payload))
		name := tt.kind + " " + tt.payload[:min(len(tt.payload), 60)]
		if tt.field == "" {
			assert.NoError(t, err, name)
			continue
		}
		var ve *jobs.ValidationError
		if assert.ErrorAs(t, err, &ve, name) {
			assert.Equal(t, tt.field, ve.Field, "%s: %s", name, ve.Message)
		}
	}
}

// TestEmailCheck: what the schema cannot say, the worker checks before
// sending: the body's total size.
func TestEmailCheck(t *testing.T) {
	p := product.EmailPayload{To: []string{"ada@example.com"}, Subject: "Hi",
		Text: strings.Repeat("a", product.MaxEmailBodyBytes), HTML: "b"}
	var ve *jobs.ValidationError
	require.ErrorAs(t, p.Check(), &ve)
	assert.Equal(t, "payload.text", ve.Field)
	p.HTML = ""
	assert.NoError(t, p.Check())
}

func TestCheckLanguage(t *testing.T) {
	assert.NoError(t, product.CheckLanguage(""))
	assert.NoError(t, product.CheckLanguage("fr"))
	assert.Error(t, product.CheckLanguage("English"))
}

func TestDefaultSchedules(t *testing.T) {
	for _, d := range product.DefaultSchedules() {
		require.NoError(t, schedule.ValidName(d.Name))
		_, err := schedule.Parse(d.Spec, d.Timezone)
		require.NoError(t, err, d.Name)
		k, err := product.Kind(d.Kind)
		require.NoError(t, err)
		check, err := jobs.CompileSchema(k.Schema)
		require.NoError(t, err)
		require.NoError(t, check(d.Payload), d.Name)
	}
}
