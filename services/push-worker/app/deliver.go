package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/hopperq/hopper/pkg/hopper"
	"github.com/hopperq/hopper/pkg/push"
	"github.com/hopperq/hopper/pkg/ratelimit"
	"github.com/hopperq/hopper/pkg/store/pg"
	"github.com/hopperq/hopper/pkg/store/pushkinds"
	"github.com/hopperq/hopper/pkg/webhook"
)

// kindStore is what a delivery reads of the push kinds.
type kindStore interface {
	Get(ctx context.Context, name string, now time.Time) (pushkinds.PushKind, error)
	SigningSecrets(ctx context.Context, name string, now time.Time) ([][]byte, error)
	CallbackKey(ctx context.Context) ([]byte, error)
	RunningJobs(ctx context.Context, kind string) (int, error)
}

// sender is the signed POST (*webhook.Deliverer).
type sender interface {
	Send(ctx context.Context, r webhook.Request) (webhook.Response, error)
}

// kindTTL is how long a kind's target and secrets are reused between
// deliveries: an admin's change or a rotation applies within it.
const kindTTL = time.Second

// overCapWait is the base of the snooze of a job over its kind's cap.
const overCapWait = 500 * time.Millisecond

// maxRateWait is the longest a delivery waits for its kind's rate while
// holding a slot; beyond, the job is snoozed and the slot goes to others.
const maxRateWait = time.Second

// deliverer runs the push queue's jobs.
type deliverer struct {
	kinds       kindStore
	send        sender
	lim         *ratelimit.Limiter
	callbackURL string
	// share is the most slots of this replica one kind may hold, so a
	// slow target leaves slots to the other kinds of the shared queue.
	share int

	mu      sync.Mutex
	cache   map[string]cachedKind
	key     []byte
	holding map[string]int // kind → slots held here
}

type cachedKind struct {
	kind    pushkinds.PushKind
	secrets [][]byte
	at      time.Time
}

func newDeliverer(kinds kindStore, send sender, lim *ratelimit.Limiter, callbackURL string, concurrency int) *deliverer {
	lim.MaxWait = maxRateWait
	return &deliverer{kinds: kinds, send: send, lim: lim, callbackURL: callbackURL,
		share: max(1, (concurrency+1)/2), cache: map[string]cachedKind{}, holding: map[string]int{}}
}

// handle delivers one attempt of a push kind's job and maps the answer:
// 2xx → succeeded with the JSON body as result; 202 → left running for the
// callback (Detach); 429/503 with Retry-After → retried then; other 4xx →
// failed at once; 5xx, a reset or the timeout → retried with backoff.
func (d *deliverer) handle(ctx context.Context, job *hopper.RawJob) (any, error) {
	ck, err := d.kind(ctx, job.Kind)
	if errors.Is(err, pg.ErrNotFound) {
		return nil, hopper.Permanentf("kind %s is not a declared push kind (deleted?)", job.Kind)
	}
	if err != nil {
		return nil, err
	}
	pk := ck.kind
	if !d.take(job.Kind) {
		return nil, hopper.Snooze(jitter(overCapWait))
	}
	defer d.give(job.Kind)
	if pk.Concurrency > 0 {
		// This job is running already: it counts itself. Two replicas
		// claiming at once both see both, so at worst both wait; the cap
		// is never exceeded.
		n, err := d.kinds.RunningJobs(ctx, job.Kind)
		if err != nil {
			return nil, err
		}
		if n > pk.Concurrency {
			return nil, hopper.Snooze(jitter(overCapWait))
		}
	}
	if pk.RatePerSecond > 0 {
		key := "push:" + job.Kind
		d.lim.Set(key, ratelimit.Limit{RequestsPerMinute: int(math.Ceil(pk.RatePerSecond * 60))})
		var we *ratelimit.WaitError
		if err := d.lim.Wait(ctx, key, 1); errors.As(err, &we) {
			return nil, hopper.Snooze(we.Wait)
		} else if err != nil {
			return nil, err
		}
	}
	cbKey, err := d.callbackKey(ctx)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set(push.HeaderJobID, job.ID.String())
	h.Set(push.HeaderKind, job.Kind)
	h.Set(push.HeaderAttempt, strconv.Itoa(job.Attempt))
	h.Set(push.HeaderMaxAttempts, strconv.Itoa(job.MaxAttempts))
	h.Set(push.HeaderTimeout, strconv.FormatInt(pk.Kind.Timeout.Milliseconds(), 10))
	h.Set(push.HeaderCallbackToken, push.CallbackToken(cbKey, job.ID, job.Attempt))
	if d.callbackURL != "" {
		h.Set(push.HeaderCallbackURL, push.CallbackURL(d.callbackURL, job.ID, job.Attempt))
	}
	body := []byte(job.Payload)
	if len(body) == 0 {
		body = []byte("{}")
	}
	resp, err := d.send.Send(ctx, webhook.Request{URL: pk.URL, Body: body, Header: h, Secrets: ck.secrets,
		ID: webhook.DeliveryID("push:" + job.ID.String()), MaxResponseBytes: push.MaxResultBytes})
	if err != nil {
		switch {
		case webhook.IsPermanent(err):
			return nil, hopper.Permanent(err)
		default:
			if after, ok := webhook.RetryAfter(err); ok {
				return nil, hopper.RetryAfter(err, after)
			}
			return nil, err
		}
	}
	if resp.Status == http.StatusAccepted {
		job.Logger().Info("push target accepted the job; waiting for its callback")
		return nil, hopper.Detach(pk.Kind.Timeout)
	}
	return result(resp)
}

// result is a 2xx answer's body as the job's result: JSON as is, other
// text as a JSON string, nothing as null. A body over MaxResultBytes
// fails the job: the target did the work, and running it again would
// only answer as much again.
func result(resp webhook.Response) (any, error) {
	switch {
	case resp.Truncated:
		return nil, hopper.Permanentf("answer %d: body larger than %d bytes, the most a result may be", resp.Status, push.MaxResultBytes)
	case len(resp.Body) == 0:
		return nil, nil
	case json.Valid(resp.Body):
		return json.RawMessage(resp.Body), nil
	default:
		return string(resp.Body), nil
	}
}

// kind returns the push kind's target and secrets, cached for kindTTL.
func (d *deliverer) kind(ctx context.Context, name string) (cachedKind, error) {
	now := time.Now()
	d.mu.Lock()
	ck, ok := d.cache[name]
	d.mu.Unlock()
	if ok && now.Sub(ck.at) < kindTTL {
		return ck, nil
	}
	pk, err := d.kinds.Get(ctx, name, now)
	if err != nil {
		return cachedKind{}, err
	}
	secrets, err := d.kinds.SigningSecrets(ctx, name, now)
	if err != nil {
		return cachedKind{}, err
	}
	if len(secrets) == 0 {
		return cachedKind{}, hopper.Permanentf("push kind %s has no signing secret (rotate one: POST /v1/admin/push-kinds/%s/rotate-secret)", name, name)
	}
	ck = cachedKind{kind: pk, secrets: secrets, at: now}
	d.mu.Lock()
	d.cache[name] = ck
	d.mu.Unlock()
	return ck, nil
}

// callbackKey reads the callback tokens' key once.
func (d *deliverer) callbackKey(ctx context.Context) ([]byte, error) {
	d.mu.Lock()
	key := d.key
	d.mu.Unlock()
	if key != nil {
		return key, nil
	}
	key, err := d.kinds.CallbackKey(ctx)
	if err != nil {
		return nil, fmt.Errorf("callback key: %w", err)
	}
	d.mu.Lock()
	d.key = key
	d.mu.Unlock()
	return key, nil
}

// take holds one of kind's slots on this replica, if it has fewer than
// its share.
func (d *deliverer) take(kind string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.holding[kind] >= d.share {
		return false
	}
	d.holding[kind]++
	return true
}

func (d *deliverer) give(kind string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.holding[kind]--; d.holding[kind] <= 0 {
		delete(d.holding, kind)
	}
}

// jitter spreads d over [d, 2d), so snoozed jobs do not return together.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration(rand.Int64N(int64(d)))
}
