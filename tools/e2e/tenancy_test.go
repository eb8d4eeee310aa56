package e2e

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/testkit"
)

// newUserKeyWithEmail creates a user with role and email on the unlimited
// plan and returns a key: for tests about what a user may do with their
// own address, or as an admin.
func newUserKeyWithEmail(t *testing.T, c *client, e env, role, email string) string {
	t.Helper()
	code, u := c.do("POST", "/v1/admin/users", e["HOPPER_ADMIN_TOKEN"], map[string]any{"email": email, "role": role, "plan": "unlimited"})
	require.Equal(t, 201, code, u)
	code, k := c.do("POST", "/v1/admin/users/"+u["id"].(string)+"/keys", e["HOPPER_ADMIN_TOKEN"], nil)
	require.Equal(t, 201, code, k)
	return k["key"].(string)
}

// TestSystemKindsOff: the gateway binary in stage, without
// HOPPER_SYSTEM_KINDS, refuses system.sleep and system.noop to users and
// admins alike (403 naming the setting) and lists them as internal.
func TestSystemKindsOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	delete(e, "HOPPER_SYSTEM_KINDS")
	c, key := stackWithGateway(t, e, nil)
	admin := newUserKeyWithEmail(t, c, e, "admin", testkit.UniqueName("ops")+"@example.com")
	for _, k := range []string{key, admin} {
		code, out := c.do("POST", "/v1/jobs", k, map[string]any{"kind": "system.sleep",
			"payload": map[string]any{"ms": 3_600_000, "callback_url": "http://127.0.0.1:1/"}})
		require.Equal(t, 403, code, out)
		assert.Contains(t, out["error"].(map[string]any)["message"], "HOPPER_SYSTEM_KINDS=true")
	}
	code, out := c.do("GET", "/v1/kinds/system.noop", key, nil)
	require.Equal(t, 200, code, out)
	assert.Equal(t, "internal", out["visibility"])
	assert.Equal(t, false, out["submittable"])
}
