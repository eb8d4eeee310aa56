package jobstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/hopperq/hopper/pkg/store/pg"
)

// JobSnapshot returns job id and its timeline events with an id above
// afterEvent (0: the whole timeline), oldest first, read from one
// snapshot: the row and the events always agree, so a terminal job's
// terminal event is among them. With ownerID set, another owner's job is
// pg.ErrNotFound; nil means any owner (admins).
func (s *Store) JobSnapshot(ctx context.Context, ownerID *uuid.UUID, id uuid.UUID, afterEvent int64) (Job, []Event, error) {
	var (
		job Job
		evs []Event
	)
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		q := tx.Where("id = ?", id)
		if ownerID != nil {
			q = q.Where("owner_id = ?", *ownerID)
		}
		res := q.Limit(1).Find(&job)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return pg.ErrNotFound
		}
		return tx.Where("job_id = ? AND id > ?", id, afterEvent).Order("id").Find(&evs).Error
	}, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return Job{}, nil, fmt.Errorf("job snapshot %s: %w", id, err)
	}
	return job, evs, nil
}
