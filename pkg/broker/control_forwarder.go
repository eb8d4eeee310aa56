package broker

import (
	"context"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/zap"
)

// controlForwarder decodes one session's control deliveries and passes
// them on to the listener's stream. Deliveries are auto-acked: a signal is
// only worth something to the instances alive when it is sent.
type controlForwarder struct {
	in  <-chan amqp.Delivery
	out chan<- ControlMessage
	log *zap.Logger
}

// Run forwards until in closes or ctx ends. Undecodable messages are
// logged and dropped: there is nobody to return them to.
func (f *controlForwarder) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case d, ok := <-f.in:
			if !ok {
				return nil
			}
			m, err := decodeControl(d.Body)
			if err != nil {
				f.log.Warn("undecodable control message dropped",
					zap.Error(err), zap.String("app_id", d.AppId), zap.ByteString("body", d.Body))
				continue
			}
			f.log.Debug("control signal received",
				zap.String("type", m.Type), zap.String("job_id", m.JobID), zap.String("queue", m.Queue))
			select {
			case f.out <- m:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}
