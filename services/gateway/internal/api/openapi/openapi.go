// Package openapi embeds the gateway's OpenAPI 3 description (also at
// docs/openapi.yaml) and renders a small reference page from it, so the
// docs travel inside the binary and need no CDN.
package openapi

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Spec is the OpenAPI document.
//
//go:embed openapi.yaml
var Spec []byte

// Operation is one method on one path.
type Operation struct {
	Method  string
	Path    string
	Summary string
	Tag     string
}

// Operations lists the document's operations, sorted by path and method.
func Operations() ([]Operation, error) {
	var doc struct {
		Paths map[string]map[string]yaml.Node `yaml:"paths"`
	}
	if err := yaml.Unmarshal(Spec, &doc); err != nil {
		return nil, fmt.Errorf("parse openapi.yaml: %w", err)
	}
	var ops []Operation
	for path, item := range doc.Paths {
		for method, node := range item {
			if method == "parameters" {
				continue
			}
			var op struct {
				Summary string   `yaml:"summary"`
				Tags    []string `yaml:"tags"`
			}
			if err := node.Decode(&op); err != nil {
				return nil, fmt.Errorf("parse %s %s: %w", method, path, err)
			}
			o := Operation{Method: strings.ToUpper(method), Path: path, Summary: op.Summary}
			if len(op.Tags) > 0 {
				o.Tag = op.Tags[0]
			}
			ops = append(ops, o)
		}
	}
	sort.Slice(ops, func(i, j int) bool {
		if ops[i].Path != ops[j].Path {
			return ops[i].Path < ops[j].Path
		}
		return ops[i].Method < ops[j].Method
	})
	return ops, nil
}

var page = template.Must(template.New("docs").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Hopper API</title>
<style>body{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.4rem;text-align:left}
code{background:#f4f4f4;padding:0 .3rem}.m{font-weight:600;width:5rem}</style></head>
<body><h1>Hopper API</h1>
<p>The full description is <a href="/openapi.yaml">/openapi.yaml</a> (OpenAPI 3).
Authenticate with <code>Authorization: Bearer &lt;api key&gt;</code>.
Errors: <code>{"error": {"code", "message", "details"}}</code>.</p>
<table><tr><th>Method</th><th>Path</th><th>Summary</th><th>Tag</th></tr>
{{range .}}<tr><td class="m">{{.Method}}</td><td><code>{{.Path}}</code></td><td>{{.Summary}}</td><td>{{.Tag}}</td></tr>
{{end}}</table></body></html>`))

// RenderDocs writes the reference page.
func RenderDocs(w io.Writer) error {
	ops, err := Operations()
	if err != nil {
		return err
	}
	return page.Execute(w, ops)
}
