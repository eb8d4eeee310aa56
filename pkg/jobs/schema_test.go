package jobs_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/jobs"
)

const boardSchema = `{
	"type": "object",
	"properties": {
		"board": {"type": "string", "minLength": 1, "pattern": "\\S"},
		"n": {"type": "integer", "maximum": 10},
		"id": {"type": "string", "format": "uuid"},
		"items": {"type": "array", "items": {"type": "object", "properties": {"x": {"type": "string"}}}}
	},
	"required": ["board"],
	"additionalProperties": false
}`

// TestCompileSchema: a payload breaking the kind's schema names the
// field that breaks it, in the API's notation.
func TestCompileSchema(t *testing.T) {
	check, err := jobs.CompileSchema([]byte(boardSchema))
	require.NoError(t, err)
	tests := []struct{ payload, field, message string }{
		{`{"board": "a"}`, "", ""},
		{`{}`, "payload.board", "is required"},
		{`{"board": ""}`, "payload.board", "minLength"},
		{`{"board": "   "}`, "payload.board", "pattern"},
		{`{"board": "a", "n": 11}`, "payload.n", "maximum"},
		{`{"board": "a", "extra": 1}`, "payload.extra", "not a field"},
		{`{"board": "a", "items": [{"x": 1}]}`, "payload.items[0].x", "want string"},
		{`{"board": "a", "id": "nope"}`, "payload.id", "uuid"},
		{`{"board": "a", "id": "0193b8a0-0000-7000-8000-000000000001"}`, "", ""},
	}
	for _, tt := range tests {
		err := check([]byte(tt.payload))
		if tt.field == "" {
			assert.NoError(t, err, tt.payload)
			continue
		}
		var ve *jobs.ValidationError
		require.ErrorAs(t, err, &ve, tt.payload)
		assert.Equal(t, tt.field, ve.Field, tt.payload)
		assert.Contains(t, ve.Message, tt.message, tt.payload)
	}
}

// TestCompileSchemaRefuses: schemas that are not JSON, do not compile,
// are too large or reach outside themselves are refused at once.
func TestCompileSchemaRefuses(t *testing.T) {
	for name, schema := range map[string]string{
		"not json":     `{"type":`,
		"bad keyword":  `{"type": 5}`,
		"remote ref":   `{"$ref": "http://127.0.0.1:1/s.json"}`,
		"file ref":     `{"$ref": "file:///etc/passwd"}`,
		"too large":    `{"description": "` + strings.Repeat("a", jobs.MaxSchemaBytes) + `"}`,
		"bad pattern":  `{"pattern": "("}`,
		"missing $def": `{"$ref": "#/$defs/nope"}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := jobs.CompileSchema([]byte(schema))
			assert.Error(t, err)
		})
	}
}

// TestValidateWithSchema: a kind's CheckPayload (its compiled schema) runs
// at submit.
func TestValidateWithSchema(t *testing.T) {
	check, err := jobs.CompileSchema([]byte(boardSchema))
	require.NoError(t, err)
	reg, err := jobs.NewRegistry(jobs.Kind{Name: "acme.board", Queue: "acme", MaxAttempts: 1, Timeout: time.Second,
		CheckPayload: check, Schema: json.RawMessage(boardSchema)})
	require.NoError(t, err)
	_, err = jobs.Validate(reg, jobs.SubmitRequest{Kind: "acme.board", Payload: json.RawMessage(`{"board": 1}`)})
	var ve *jobs.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "payload.board", ve.Field)
	_, err = jobs.Validate(reg, jobs.SubmitRequest{Kind: "acme.board", Payload: json.RawMessage(`{"board": "b"}`)})
	assert.NoError(t, err)
}
