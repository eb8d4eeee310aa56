package jobs_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/jobs"
)

func TestEmbedKind(t *testing.T) {
	t.Parallel()
	reg, err := jobs.DefaultRegistry()
	require.NoError(t, err)
	k, ok := reg.Lookup(jobs.KindDocumentEmbed)
	require.True(t, ok)
	assert.Equal(t, "document", k.Queue)
	assert.Equal(t, jobs.PriorityLow, k.DefaultPriority)

	tests := []struct{ payload, wantField string }{
		{`{}`, ""},
		{`{"document_id": "0193b8a0-0000-7000-8000-000000000001"}`, ""},
		{`{"document_id": ""}`, ""},
		{`{"document_id": "nope"}`, "payload.document_id"},
		{`{"document_id": 7}`, "payload"},
		{`{"all": true}`, "payload"},
	}
	for _, tt := range tests {
		_, err := reg.Validate(jobs.SubmitRequest{Kind: jobs.KindDocumentEmbed, Payload: json.RawMessage(tt.payload)})
		if tt.wantField == "" {
			assert.NoError(t, err, tt.payload)
			continue
		}
		var ve *jobs.ValidationError
		if assert.ErrorAs(t, err, &ve, tt.payload) {
			assert.Equal(t, tt.wantField, ve.Field, tt.payload)
		}
	}
}
