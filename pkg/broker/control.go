package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// ControlMessage is a fleet-wide signal to worker instances, sent through
// the control fanout exchange so every instance sees it.
type ControlMessage struct {
	// Type says what to do: ControlCancel, ControlPause or ControlResume.
	Type string `json:"type"`
	// JobID is the job the signal is about, when it is about one.
	JobID string `json:"job_id,omitempty"`
	// Queue is the short queue name the signal is about, when it is about
	// one.
	Queue string `json:"queue,omitempty"`
}

// Control message types.
const (
	// ControlCancel asks whichever instance runs JobID to cancel it now.
	ControlCancel = "cancel"
	// ControlPause asks every instance to stop consuming Queue.
	ControlPause = "pause"
	// ControlResume asks every instance to consume Queue again.
	ControlResume = "resume"
)

// PublishControl sends m to every worker instance listening on the control
// exchange and waits for the broker's confirm, through the same window as
// Publish.
//
// Signals are transient: one about a job nobody runs means nothing after a
// broker restart. When no instance listens, the broker returns the message
// as unroutable; PublishControl then returns nil, because for a fanout
// signal nobody to tell is not an error. Every other outcome is as for
// Publish (ErrNotConnected, ErrConnectionLost, ErrNacked, ctx errors).
func (p *Publisher) PublishControl(ctx context.Context, m ControlMessage) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("broker: publish control %s: %w", m.Type, err)
	}
	if m.Type == "" {
		return errors.New("broker: control message without type")
	}
	pub, err := m.publishing(p.appID, time.Now())
	if err != nil {
		return err
	}
	what := "control " + m.Type
	if m.JobID != "" {
		what += " for job " + m.JobID
	}
	if m.Queue != "" {
		what += " for queue " + m.Queue
	}
	// The routing key is ignored by a fanout exchange.
	err = p.send(ctx, p.topo.ControlExchange(), "", pub, what)
	if errors.Is(err, ErrUnroutable) {
		return nil
	}
	return err
}

// publishing builds the AMQP message for m.
func (m ControlMessage) publishing(appID string, now time.Time) (amqp.Publishing, error) {
	body, err := json.Marshal(m)
	if err != nil {
		return amqp.Publishing{}, fmt.Errorf("broker: encode control message: %w", err)
	}
	return amqp.Publishing{
		ContentType:  ContentTypeJSON,
		DeliveryMode: amqp.Transient,
		MessageId:    m.JobID,
		Type:         m.Type,
		AppId:        appID,
		Timestamp:    now,
		Body:         body,
	}, nil
}

// decodeControl parses a control message body. A body without a type
// carries no signal and is an error.
func decodeControl(body []byte) (ControlMessage, error) {
	var m ControlMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return ControlMessage{}, fmt.Errorf("broker: decode control message: %w", err)
	}
	if m.Type == "" {
		return ControlMessage{}, errors.New("broker: decode control message: empty type")
	}
	return m, nil
}
