package schedule

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzParse: any spec and time zone either parse into a schedule that
// round-trips, whose ticks are strictly later, in UTC, on whole seconds
// (whole minutes but for @every), and go on firing; or fail with an *Error
// naming the spec or the time zone on one line. Never a panic: cron/v3
// panics on some malformed specs and Parse must catch it.
func FuzzParse(f *testing.F) {
	for _, s := range [][2]string{
		{"* * * * *", ""},
		{"0 2 * * *", "UTC"},
		{"0 2 * * *", "Europe/Paris"},
		{"30 9 * * mon-fri", "America/New_York"},
		{"*/15 0-6,22 1,15 jan-jun,dec sun", "Asia/Kolkata"},
		{"30 2 * 3 sun", "Europe/Berlin"}, // in the spring DST gap
		{"@hourly", ""},
		{"@every 10m", ""},
		{"@every 1s", ""},
		{"@every 500ms", ""},
		{"@every -1s", ""},
		{"@every 1h30m", "Australia/Lord_Howe"},
		{"0 0 30 2 *", ""},
		{"0 0 29 2 *", ""},
		{"*/0 * * * *", ""},
		{"1-70 * * * *", ""},
		{"5-1 * * * *", ""},
		{"TZ=UTC * * * * *", ""},
		{"* * * * * *", ""},
		{"@reboot", ""},
		{"0 2 * * *", "Local"},
		{"0 2 * * *", "../../etc/passwd"},
		{"0 2 * * *", "Mars/Olympus"},
	} {
		f.Add(s[0], s[1])
	}
	at := time.Date(2031, 1, 6, 10, 17, 42, 500, time.UTC)
	f.Fuzz(func(t *testing.T, expr, tz string) {
		s, err := Parse(expr, tz)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || (e.Field != "spec" && e.Field != "timezone") {
				t.Fatalf("error %T %v: want *Error for spec or timezone", err, err)
			}
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("error on several lines: %q", err.Error())
			}
			return
		}
		if s.String() != strings.TrimSpace(expr) {
			t.Fatalf("String %q for spec %q", s.String(), expr)
		}
		again, err := Parse(s.String(), s.Timezone())
		if err != nil {
			t.Fatalf("%q in %q does not parse again: %v", s.String(), s.Timezone(), err)
		}
		prev := at
		for range 3 {
			next := s.Next(prev)
			if next.IsZero() || !next.After(prev) {
				t.Fatalf("%q in %q: tick %v after %v", expr, s.Timezone(), next, prev)
			}
			if next.Location() != time.UTC || next.Nanosecond() != 0 {
				t.Fatalf("%q: tick %v not in UTC on a whole second", expr, next)
			}
			if !strings.HasPrefix(s.String(), "@every") && next.Second() != 0 {
				t.Fatalf("%q: tick %v not on a whole minute", expr, next)
			}
			if again.Next(prev) != next {
				t.Fatalf("%q: reparsed schedule ticks %v, not %v", expr, again.Next(prev), next)
			}
			prev = next
		}
	})
}
