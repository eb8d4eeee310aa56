package worker

import (
	"context"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/broker"
	hlog "github.com/hopperq/hopper/pkg/log"
)

// controlLoop applies fleet-wide control signals to this instance: a
// cancel for a job it runs ends that job's handler context at once, rather
// than at the next heartbeat; a pause or resume stops or restarts
// consuming a queue.
type controlLoop struct {
	signals <-chan broker.ControlMessage
	proc    *Processor
	// queues pauses and resumes consumption; nil ignores those signals.
	queues queuePauser
	log    *zap.Logger
}

// queuePauser is the consumer as the control loop sees it.
type queuePauser interface {
	Pause(queue string) error
	Resume(queue string) error
}

// Run handles signals until ctx ends or the listener closes the stream.
func (c *controlLoop) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case m, ok := <-c.signals:
			if !ok {
				return nil
			}
			c.handle(m)
		}
	}
}

func (c *controlLoop) handle(m broker.ControlMessage) {
	switch m.Type {
	case broker.ControlCancel:
		c.cancel(m)
	case broker.ControlPause, broker.ControlResume:
		c.pauseOrResume(m)
	default:
		c.log.Debug("control signal ignored", zap.String("type", m.Type))
	}
}

// pauseOrResume applies a queue signal. A queue this instance does not
// consume is only remembered by the consumer.
func (c *controlLoop) pauseOrResume(m broker.ControlMessage) {
	if c.queues == nil || m.Queue == "" {
		c.log.Debug("queue signal ignored", zap.String("type", m.Type), zap.String("queue", m.Queue))
		return
	}
	apply := c.queues.Resume
	if m.Type == broker.ControlPause {
		apply = c.queues.Pause
	}
	if err := apply(m.Queue); err != nil {
		// The consumer's session is then lost; the next one reads the
		// paused queues from Postgres.
		c.log.Warn("queue signal not applied", zap.String("type", m.Type), zap.String("queue", m.Queue), zap.Error(err))
		return
	}
	c.log.Info("queue signal applied", zap.String("type", m.Type), zap.String("queue", m.Queue))
}

func (c *controlLoop) cancel(m broker.ControlMessage) {
	id, err := uuid.Parse(m.JobID)
	if err != nil {
		c.log.Warn("cancel signal with a bad job id", zap.String("job_id", m.JobID))
		return
	}
	if c.proc.CancelRunning(id) {
		c.log.Info("cancel signal received; stopping job", hlog.JobID(m.JobID))
	}
}
