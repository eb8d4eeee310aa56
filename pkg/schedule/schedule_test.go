package schedule

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseNext(t *testing.T) {
	t.Parallel()
	at := time.Date(2031, 1, 6, 10, 17, 42, 500, time.UTC) // a Monday
	for _, tc := range []struct {
		spec, tz string
		want     time.Time
	}{
		{"* * * * *", "", time.Date(2031, 1, 6, 10, 18, 0, 0, time.UTC)},
		{"0 2 * * *", "UTC", time.Date(2031, 1, 7, 2, 0, 0, 0, time.UTC)},
		{"0 2 * * *", "Europe/Paris", time.Date(2031, 1, 7, 1, 0, 0, 0, time.UTC)},
		{"@hourly", "", time.Date(2031, 1, 6, 11, 0, 0, 0, time.UTC)},
		{"@daily", "America/New_York", time.Date(2031, 1, 7, 5, 0, 0, 0, time.UTC)},
		{"@every 1s", "", time.Date(2031, 1, 6, 10, 17, 43, 0, time.UTC)},
		{"@every 10m", "", time.Date(2031, 1, 6, 10, 27, 42, 0, time.UTC)},
		{"30 9 * * mon-fri", "", time.Date(2031, 1, 7, 9, 30, 0, 0, time.UTC)},
	} {
		s, err := Parse(tc.spec, tc.tz)
		require.NoError(t, err, tc.spec)
		assert.Equal(t, tc.want, s.Next(at), "%s in %q", tc.spec, tc.tz)
		assert.Equal(t, time.UTC, s.Next(at).Location())
	}
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ spec, tz, field, contains string }{
		{"", "", "spec", "required"},
		{"61 * * * *", "", "spec", "not a cron spec"},
		{"* * * *", "", "spec", "five fields"},
		{"0 * * * * *", "", "spec", "not a cron spec"}, // no seconds field
		{"@fortnightly", "", "spec", "not a cron spec"},
		{"@every 500ms", "", "spec", "at least 1s"},
		{"@every -1m", "", "spec", "at least 1s"},
		{"0 0 30 2 *", "", "spec", "never fires"},
		{"TZ=UTC", "", "spec", "timezone field"},
		{"CRON_TZ=Europe/Paris 0 2 * * *", "", "spec", "timezone field"},
		{"@daily", "Mars/Olympus", "timezone", "IANA"},
		{"@daily", "Local", "timezone", "host"},
	} {
		_, err := Parse(tc.spec, tc.tz)
		var se *Error
		require.ErrorAs(t, err, &se, "%q", tc.spec)
		assert.Equal(t, tc.field, se.Field, tc.spec)
		assert.Contains(t, se.Error(), tc.contains, tc.spec)
	}
}

func TestValidName(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"cleanup", "retention", "nightly-report.v2", "a", "0_x"} {
		assert.NoError(t, ValidName(ok), ok)
	}
	for _, bad := range []string{"", "Cleanup", "-x", "a b", "a/b", string(make([]byte, 64))} {
		assert.Error(t, ValidName(bad), bad)
	}
}

func TestKeys(t *testing.T) {
	t.Parallel()
	tick := time.Date(2031, 1, 6, 11, 0, 0, 0, time.FixedZone("X", 3600))
	assert.Equal(t, "schedule:id1:2031-01-06T10:00:00Z", TickKey("id1", tick))
	assert.Contains(t, ManualKey("id1", tick), "schedule:id1:manual:")
	assert.Equal(t, "schedule:id1:", KeyPrefix("id1"))
}
