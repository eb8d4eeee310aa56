package broker

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Header names set on every published message.
const (
	HeaderOwner       = "owner"
	HeaderTraceparent = "traceparent"
	HeaderAttempt     = "attempt"
)

// ContentTypeJSON is the content type of every envelope.
const ContentTypeJSON = "application/json"

// Envelope is the message body: a claim check pointing at the job row in
// Postgres, never the payload, so messages stay small and a stale message
// cannot carry stale data.
type Envelope struct {
	JobID   string `json:"job_id"`
	Attempt int    `json:"attempt"`
}

// Message is what a caller publishes: the envelope plus the properties that
// let an operator browsing a queue see at once what each message is.
type Message struct {
	JobID string
	// Attempt is the job's attempt counter when it was (re)queued.
	Attempt int
	// Kind is the job kind; it is the routing key and the AMQP type.
	Kind string
	// Priority is 0..MaxPriority; higher values are served first.
	Priority uint8
	// Owner identifies the user the job belongs to.
	Owner string
	// Traceparent is a W3C trace context, passed on when set.
	Traceparent string
	// Timestamp defaults to the publish time when zero.
	Timestamp time.Time
}

// DecodeEnvelope parses a message body. A body that is not a JSON envelope
// with a job id cannot be claimed, so callers dead-letter it.
func DecodeEnvelope(body []byte) (Envelope, error) {
	var e Envelope
	if err := json.Unmarshal(body, &e); err != nil {
		return Envelope{}, fmt.Errorf("broker: decode envelope: %w", err)
	}
	if e.JobID == "" {
		return Envelope{}, errors.New("broker: decode envelope: empty job_id")
	}
	if e.Attempt < 0 {
		return Envelope{}, fmt.Errorf("broker: decode envelope: negative attempt %d", e.Attempt)
	}
	return e, nil
}

// validate rejects messages that could not be routed or claimed.
func (m Message) validate() error {
	switch {
	case m.JobID == "":
		return errors.New("broker: message without job id")
	case m.Kind == "":
		return errors.New("broker: message without kind")
	case m.Priority > MaxPriority:
		return fmt.Errorf("broker: priority %d above maximum %d", m.Priority, MaxPriority)
	}
	return nil
}

// publishing builds the AMQP message for m.
func (m Message) publishing(appID string, now time.Time) (amqp.Publishing, error) {
	body, err := json.Marshal(Envelope{JobID: m.JobID, Attempt: m.Attempt})
	if err != nil {
		return amqp.Publishing{}, fmt.Errorf("broker: encode envelope: %w", err)
	}
	ts := m.Timestamp
	if ts.IsZero() {
		ts = now
	}
	headers := amqp.Table{
		HeaderOwner:   m.Owner,
		HeaderAttempt: int32(m.Attempt),
	}
	if m.Traceparent != "" {
		headers[HeaderTraceparent] = m.Traceparent
	}
	return amqp.Publishing{
		Headers:      headers,
		ContentType:  ContentTypeJSON,
		DeliveryMode: amqp.Persistent,
		Priority:     m.Priority,
		MessageId:    m.JobID,
		Timestamp:    ts,
		Type:         m.Kind,
		AppId:        appID,
		Body:         body,
	}, nil
}
