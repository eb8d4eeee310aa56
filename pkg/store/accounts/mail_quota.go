package accounts

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/hopperq/hopper/pkg/store/pg"
	"gorm.io/gorm"
)

// LimitMailsPerHour names the per-user mail rate in a *pg.QuotaError.
const LimitMailsPerHour = "notify_mails_per_hour"

// MailWindow is the sliding window of the mail rate.
const MailWindow = time.Hour

// mailLockSQL serialises one owner's mail reservations across gateways,
// as quotaLockSQL does their submits, in a key space of its own so that
// a mail reservation never waits for a job insert.
const mailLockSQL = `SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':mail'), hashtext(?::text))`

// TakeMails reserves n mails for owner as of now within perHour mails
// per sliding hour (migration 00018, table mail_sends), and returns the
// reservations so a caller whose job is not created after all can give
// them back (ReturnMails). Over the rate it reserves nothing and returns
// a *pg.QuotaError (LimitMailsPerHour) whose RetryAfter says when n more
// would fit (0 when n alone exceeds perHour). perHour <= 0 is unlimited
// and reserves nothing.
//
// Reservations are counted apart from the jobs they belong to, in their
// own transaction before the job's: a lock, a count and an insert, so two
// gateways can never both grant the last mail. A job that then fails to
// be created keeps its reservation unless the caller returns it, which
// errs on the side of fewer mails.
func (s *Store) TakeMails(ctx context.Context, owner uuid.UUID, n, perHour int, now time.Time) ([]int64, error) {
	if perHour <= 0 || n <= 0 {
		return nil, nil
	}
	var ids []int64
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec(mailLockSQL, owner.String()).Error; err != nil {
			return fmt.Errorf("mail lock: %w", err)
		}
		since := now.Add(-MailWindow)
		// What left the window no longer counts: keep the owner's rows few.
		if err := tx.Exec(`DELETE FROM mail_sends WHERE owner_id = ? AND created_at <= ?`, owner, since).Error; err != nil {
			return fmt.Errorf("forget old mails: %w", err)
		}
		var used int
		if err := tx.Raw(`SELECT count(*) FROM mail_sends WHERE owner_id = ?`, owner).Scan(&used).Error; err != nil {
			return fmt.Errorf("count mails: %w", err)
		}
		if used+n > perHour {
			qe := &pg.QuotaError{Limit: LimitMailsPerHour, Max: perHour, Used: used, Requested: n}
			if n <= perHour {
				// The k-th oldest reservation leaving the window makes room
				// for n, k = used + n - perHour.
				var at time.Time
				err := tx.Raw(`SELECT created_at FROM mail_sends WHERE owner_id = ? ORDER BY created_at OFFSET ? LIMIT 1`,
					owner, used+n-perHour-1).Scan(&at).Error
				if err != nil {
					return fmt.Errorf("oldest mail: %w", err)
				}
				qe.RetryAfter = max(at.Add(MailWindow).Sub(now), time.Second)
			}
			return qe
		}
		return tx.Raw(`INSERT INTO mail_sends (owner_id, created_at) SELECT ?, ? FROM generate_series(1, ?) RETURNING id`,
			owner, now, n).Scan(&ids).Error
	})
	if err != nil {
		return nil, fmt.Errorf("take %d mails: %w", n, err)
	}
	return ids, nil
}

// ReturnMails gives back reservations TakeMails made for a job that was
// not created (an idempotent replay, a refused insert).
func (s *Store) ReturnMails(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	if err := s.db.WithContext(ctx).Exec(`DELETE FROM mail_sends WHERE id IN ?`, ids).Error; err != nil {
		return fmt.Errorf("return mails: %w", err)
	}
	return nil
}

// MailsInWindow counts owner's mail reservations in the hour before now.
func (s *Store) MailsInWindow(ctx context.Context, owner uuid.UUID, now time.Time) (int, error) {
	var n int
	err := s.db.WithContext(ctx).Raw(`SELECT count(*) FROM mail_sends WHERE owner_id = ? AND created_at > ?`,
		owner, now.Add(-MailWindow)).Scan(&n).Error
	if err != nil {
		return 0, fmt.Errorf("count mails: %w", err)
	}
	return n, nil
}
