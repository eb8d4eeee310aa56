// Package schedule holds Hopper's cron schedules without any I/O: parsing
// and checking a schedule's spec and time zone, computing its next tick,
// schedule names, the idempotency keys of the jobs a schedule creates, and
// the default schedules every deployment has.
//
// Specs are parsed by github.com/robfig/cron/v3: five fields (minute, hour,
// day of month, month, day of week) or a descriptor (@yearly, @monthly,
// @weekly, @daily, @midnight, @hourly, @every <duration>).
package schedule

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	// Time zones must not depend on the host: distroless images may lack
	// /usr/share/zoneinfo.
	_ "time/tzdata"
)

// DefaultTimezone is a schedule's time zone when none is given.
const DefaultTimezone = "UTC"

// MinEvery is the shortest @every interval accepted: cron/v3 rounds
// shorter ones up to it silently, and a schedule should say what it does.
const MinEvery = time.Second

// Error says which field of a schedule is wrong and why.
type Error struct {
	Field   string // "name", "spec" or "timezone"
	Message string
}

func (e *Error) Error() string { return e.Field + ": " + e.Message }

func invalid(field, format string, args ...any) *Error {
	return &Error{Field: field, Message: fmt.Sprintf(format, args...)}
}

// parser accepts the standard five fields and descriptors; no seconds
// field, as in crontab, Celery beat and River.
var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Spec is a parsed schedule: when it fires, in which time zone.
type Spec struct {
	expr  string
	loc   *time.Location
	sched cron.Schedule
}

// Parse checks a spec and its IANA time zone ("" means UTC) and returns
// the schedule. It rejects specs that cannot fire and @every intervals
// below MinEvery.
func Parse(expr, timezone string) (Spec, error) {
	expr = strings.TrimSpace(expr)
	if expr == "" {
		return Spec{}, invalid("spec", `is required: five cron fields ("0 2 * * *") or a descriptor (@hourly, @daily, @every 10m)`)
	}
	if strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ=") {
		return Spec{}, invalid("spec", "set the time zone with the timezone field, not a TZ= prefix")
	}
	loc, err := LoadTimezone(timezone)
	if err != nil {
		return Spec{}, err
	}
	sched, err := parse(expr)
	if err != nil {
		// cron's error repeats the spec as given: escape it, so a spec
		// with control characters cannot break the message into lines.
		why := strconv.Quote(err.Error())
		return Spec{}, invalid("spec", "%q is not a cron spec (%s): want five fields \"minute hour day-of-month month day-of-week\" or @hourly, @daily, @weekly, @monthly, @yearly, @every <duration>", expr, why[1:len(why)-1])
	}
	if every, ok := sched.(cron.ConstantDelaySchedule); ok {
		d, derr := time.ParseDuration(strings.TrimSpace(strings.TrimPrefix(expr, "@every")))
		if derr != nil || d < MinEvery || every.Delay < MinEvery {
			return Spec{}, invalid("spec", "%q: @every needs a duration of at least %s", expr, MinEvery)
		}
	}
	s := Spec{expr: expr, loc: loc, sched: sched}
	// cron/v3 gives up (zero time) after five years without a match, e.g.
	// "0 0 30 2 *" (February 30th).
	if s.Next(time.Now()).IsZero() {
		return Spec{}, invalid("spec", "%q never fires", expr)
	}
	return s, nil
}

// parse wraps the parser: cron/v3 panics on some malformed input.
func parse(expr string) (sched cron.Schedule, err error) {
	defer func() {
		if r := recover(); r != nil {
			sched, err = nil, fmt.Errorf("malformed: %v", r)
		}
	}()
	return parser.Parse(expr)
}

// LoadTimezone resolves an IANA time zone name; "" is UTC.
func LoadTimezone(name string) (*time.Location, error) {
	if name == "" {
		name = DefaultTimezone
	}
	// "Local" would depend on the machine the dispatcher leads on.
	if name == "Local" {
		return nil, invalid("timezone", `"Local" depends on the host; name an IANA zone such as "UTC" or "Europe/Paris"`)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, invalid("timezone", "%q is not an IANA time zone such as \"UTC\" or \"Europe/Paris\"", name)
	}
	return loc, nil
}

// String is the spec as written.
func (s Spec) String() string { return s.expr }

// Timezone is the spec's time zone name.
func (s Spec) Timezone() string { return s.loc.String() }

// Next is the first tick strictly after t, in UTC; zero if the spec never
// fires again. Ticks fall on whole seconds.
func (s Spec) Next(t time.Time) time.Time {
	n := s.sched.Next(t.In(s.loc))
	if n.IsZero() {
		return n
	}
	return n.UTC()
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// ValidName checks a schedule name: 1–63 characters of lower-case
// letters, digits, '.', '_' and '-', starting with a letter or digit, so
// it is safe in a URL path and a log line.
func ValidName(name string) error {
	if !nameRE.MatchString(name) {
		return invalid("name", "%q: want 1-63 characters a-z, 0-9, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}

// TickKey is the idempotency key of the job a schedule creates for the
// tick at tick: one job per schedule and tick, however many dispatchers
// try.
func TickKey(scheduleID string, tick time.Time) string {
	return "schedule:" + scheduleID + ":" + tick.UTC().Format(time.RFC3339)
}

// ManualKey is the idempotency key of a job created by triggering a
// schedule by hand at now: every trigger creates its own job.
func ManualKey(scheduleID string, now time.Time) string {
	return "schedule:" + scheduleID + ":manual:" + now.UTC().Format(time.RFC3339Nano)
}

// KeyPrefix starts the idempotency key of every job schedule id created.
func KeyPrefix(scheduleID string) string { return "schedule:" + scheduleID + ":" }

// Default is a schedule a worker service creates when it starts, unless
// one of that name exists (an admin may have changed or disabled it).
type Default struct {
	Name     string
	Spec     string
	Timezone string
	Kind     string
	Payload  json.RawMessage
}
