package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReadWorkflowFile: a workflow file is JSON or YAML (by extension or
// content) and reaches the gateway as JSON; a malformed or oversized one
// is refused naming the file.
func TestReadWorkflowFile(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, file, body, want, err string
	}{
		{"json", "w.json", `{"steps": [{"name": "a", "kind": "k"}]}`, `{"steps": [{"name": "a", "kind": "k"}]}`, ""},
		{"yaml", "w.yaml", "steps:\n  - {name: a, kind: k, payload: {n: 1}}\n", `{"steps":[{"kind":"k","name":"a","payload":{"n":1}}]}`, ""},
		{"yaml without extension", "w", "name: x\nsteps: []\n", `{"name":"x","steps":[]}`, ""},
		{"json by content", "w.txt", ` {"steps": []}`, `{"steps": []}`, ""},
		{"bad json", "w.json", `{"steps": [`, "", "not valid JSON"},
		{"bad yaml", "w.yml", "steps: [\n", "", "w.yml"},
		{"not a mapping", "w.yaml", "- a\n- b\n", "", "want a mapping with steps"},
		{"too large", "w.yaml", "steps: []\n" + strings.Repeat("#", maxWorkflowFile), "", "over 32 MiB"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.file)
			require.NoError(t, os.WriteFile(p, []byte(tc.body), 0o600))
			got, err := readWorkflowFile(p, nil)
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.JSONEq(t, tc.want, string(got))
		})
	}
	got, err := readWorkflowFile("-", strings.NewReader("steps: []"))
	require.NoError(t, err)
	assert.JSONEq(t, `{"steps": []}`, string(got), "- reads stdin")
}
