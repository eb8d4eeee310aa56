package api

import (
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/services/gateway/internal/api/openapi"
)

// TestSpecMatchesRoutes fails when a route exists that docs/openapi.yaml
// does not describe, or the spec describes one that does not exist.
func TestSpecMatchesRoutes(t *testing.T) {
	engine := New(Options{})
	var routes []string
	for _, r := range engine.Routes() {
		routes = append(routes, r.Method+" "+ginToOpenAPI(r.Path))
	}
	ops, err := openapi.Operations()
	require.NoError(t, err)
	var described []string
	for _, o := range ops {
		described = append(described, o.Method+" "+o.Path)
	}
	sort.Strings(routes)
	sort.Strings(described)
	assert.Equal(t, described, routes, "docs/openapi.yaml and the gateway's routes differ")
}

// ginToOpenAPI turns /v1/jobs/:id into /v1/jobs/{id}.
func ginToOpenAPI(path string) string {
	parts := strings.Split(path, "/")
	for i, p := range parts {
		if strings.HasPrefix(p, ":") || strings.HasPrefix(p, "*") {
			parts[i] = "{" + p[1:] + "}"
		}
	}
	return strings.Join(parts, "/")
}

func TestDocsServed(t *testing.T) {
	engine := New(Options{})
	for _, tc := range []struct{ path, contentType, contains string }{
		{"/openapi.yaml", "application/yaml", "openapi: 3.0.3"},
		{"/docs", "text/html", "/v1/jobs/{id}/retry"},
	} {
		rec := httptest.NewRecorder()
		engine.ServeHTTP(rec, httptest.NewRequest("GET", tc.path, nil))
		assert.Equal(t, 200, rec.Code, tc.path)
		assert.Contains(t, rec.Header().Get("Content-Type"), tc.contentType)
		assert.Contains(t, rec.Body.String(), tc.contains)
	}
}
