package broker_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/broker"
)

func TestDecodeEnvelope(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		body    string
		want    broker.Envelope
		wantErr bool
	}{
		{name: "valid", body: `{"job_id":"j1","attempt":2}`, want: broker.Envelope{JobID: "j1", Attempt: 2}},
		{name: "attempt omitted", body: `{"job_id":"j1"}`, want: broker.Envelope{JobID: "j1"}},
		{name: "unknown fields ignored", body: `{"job_id":"j1","attempt":0,"extra":true}`, want: broker.Envelope{JobID: "j1"}},
		{name: "empty body", body: ``, wantErr: true},
		{name: "not json", body: `hello`, wantErr: true},
		{name: "truncated", body: `{"job_id":"j1"`, wantErr: true},
		{name: "empty job id", body: `{"job_id":"","attempt":1}`, wantErr: true},
		{name: "missing job id", body: `{"attempt":1}`, wantErr: true},
		{name: "wrong type", body: `{"job_id":42}`, wantErr: true},
		{name: "negative attempt", body: `{"job_id":"j1","attempt":-1}`, wantErr: true},
		{name: "array", body: `[]`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := broker.DecodeEnvelope([]byte(tt.body))
			if tt.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}
