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
	Type  string `json:"type"`
	JobID string `json:"job_id,omitempty"`
	Queue string `json:"queue,omitempty"`
}

// ControlCancel asks whichever instance runs JobID to cancel it now.
const ControlCancel = "cancel"

// PublishControl sends m to every worker instance listening on the control
// exchange and waits for the broker's confirm. Signals are transient: one
// about a job nobody runs means nothing after a broker restart. When no
// instance listens the broker returns the message as unroutable, which is
// not an error for a fanout signal: there is nobody to tell.
func (p *Publisher) PublishControl(ctx context.Context, m ControlMessage) error {
	body, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("broker: encode control message: %w", err)
	}
	pub := amqp.Publishing{
		ContentType:  ContentTypeJSON,
		DeliveryMode: amqp.Transient,
		MessageId:    m.JobID,
		Type:         m.Type,
		AppId:        p.appID,
		Timestamp:    time.Now(),
		Body:         body,
	}
	err = p.send(ctx, p.topo.ControlExchange(), "", pub, "control "+m.Type)
	if errors.Is(err, ErrUnroutable) {
		return nil
	}
	return err
}
