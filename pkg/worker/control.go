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
// than at the next heartbeat.
type controlLoop struct {
	signals <-chan broker.ControlMessage
	proc    *Processor
	log     *zap.Logger
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
	if m.Type != broker.ControlCancel {
		c.log.Debug("control signal ignored", zap.String("type", m.Type))
		return
	}
	id, err := uuid.Parse(m.JobID)
	if err != nil {
		c.log.Warn("cancel signal with a bad job id", zap.String("job_id", m.JobID))
		return
	}
	if c.proc.CancelRunning(id) {
		c.log.Info("cancel signal received; stopping job", hlog.JobID(m.JobID))
	}
}
