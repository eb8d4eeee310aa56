package broker

import (
	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/zap"
)

// confirmer pumps one channel's basic.return and confirmation streams into
// its pubSession.
//
// One goroutine reads both streams, and that is what makes unroutable
// detection race-free: the library's reader goroutine hands over a return
// on the unbuffered returns channel before it even reads the ack frame
// that follows it, so by the time the ack is in confirmations, this loop
// has already recorded the return.
//
// It has no ctx on purpose: it must run until the library closes both
// streams (when the channel closes). Stopping earlier would leave the
// library's reader blocked on the unbuffered returns channel, which would
// wedge the connection, including its Close.
type confirmer struct {
	sess          *pubSession
	confirmations <-chan amqp.Confirmation
	returns       <-chan amqp.Return
	log           *zap.Logger
}

// serve runs until the confirmation stream closes, then fails whatever is
// still pending with ErrConnectionLost.
func (c *confirmer) serve() {
	defer c.sess.fail(ErrConnectionLost)
	returns := c.returns
	for {
		select {
		case r, ok := <-returns:
			if !ok {
				// Closed with the channel; keep reading confirmations the
				// library already buffered.
				returns = nil
				continue
			}
			c.log.Debug("message returned",
				zap.String("job_id", r.MessageId),
				zap.String("routing_key", r.RoutingKey),
				zap.Uint16("reply_code", r.ReplyCode),
				zap.String("reply_text", r.ReplyText))
			c.sess.markReturned(r)
		case conf, ok := <-c.confirmations:
			if !ok {
				return
			}
			c.sess.confirm(conf)
		}
	}
}
