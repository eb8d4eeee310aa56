package jobs

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// MaxSchemaBytes bounds a kind's payload schema: schemas travel through
// the catalogue and are compiled by every gateway.
const MaxSchemaBytes = 64 << 10

// schemaURL names the one resource a compiled schema consists of.
const schemaURL = "hopper:///payload.schema.json"

// noLoader refuses every reference outside the schema itself: a schema is
// data a worker publishes, and compiling it must never reach a network or
// a file.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("schema references %q: only references inside the schema are allowed", url)
}

// CompileSchema compiles a payload JSON Schema (draft 2020-12 unless it
// names another) into a check that returns a *ValidationError naming the
// payload field that breaks it.
func CompileSchema(schema []byte) (func(payload []byte) error, error) {
	if len(schema) > MaxSchemaBytes {
		return nil, fmt.Errorf("payload schema is %d bytes, limit %d", len(schema), MaxSchemaBytes)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		return nil, fmt.Errorf("payload schema is not JSON: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(noLoader{})
	// "format" (email, uuid, date-time, …) is a check, not a comment.
	c.AssertFormat()
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, fmt.Errorf("payload schema: %w", err)
	}
	sch, err := c.Compile(schemaURL)
	if err != nil {
		return nil, fmt.Errorf("payload schema does not compile: %w", err)
	}
	return func(payload []byte) error {
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
		if err != nil {
			return invalid("payload", "is not JSON: %v", err)
		}
		var ve *jsonschema.ValidationError
		if err := sch.Validate(inst); errors.As(err, &ve) {
			return schemaError(ve)
		} else if err != nil {
			return invalid("payload", "%v", err)
		}
		return nil
	}, nil
}

// schemaError turns the validator's tree of errors into one
// ValidationError naming the first failing field (in a stable order) and
// its reason. It descends into anyOf/oneOf/if branches, whose own
// message ("anyOf failed") names no field.
func schemaError(ve *jsonschema.ValidationError) *ValidationError {
	var leaves []schemaLeaf
	collectLeaves(ve, &leaves)
	if len(leaves) == 0 {
		return invalid("payload", "does not match the kind's schema")
	}
	sort.SliceStable(leaves, func(i, j int) bool { return leaves[i].loc < leaves[j].loc })
	first := leaves[0]
	return invalid(fieldPath(first.loc), "%s", first.msg)
}

type schemaLeaf struct{ loc, msg string }

var printer = message.NewPrinter(language.English)

func collectLeaves(e *jsonschema.ValidationError, out *[]schemaLeaf) {
	if len(e.Causes) > 0 {
		for _, c := range e.Causes {
			collectLeaves(c, out)
		}
		return
	}
	loc := "/" + strings.Join(e.InstanceLocation, "/")
	msg := e.ErrorKind.LocalizedString(printer)
	// Name the field itself when the error is about its presence.
	switch k := e.ErrorKind.(type) {
	case *kind.Required:
		if len(k.Missing) > 0 {
			loc, msg = strings.TrimSuffix(loc, "/")+"/"+k.Missing[0], "is required"
		}
	case *kind.AdditionalProperties:
		if len(k.Properties) > 0 {
			loc, msg = strings.TrimSuffix(loc, "/")+"/"+k.Properties[0], "is not a field of this kind's payload"
		}
	}
	*out = append(*out, schemaLeaf{loc: loc, msg: msg})
}

// fieldPath turns a JSON pointer into the API's field notation:
// "/items/0/name" → "payload.items[0].name".
func fieldPath(pointer string) string {
	var b strings.Builder
	b.WriteString("payload")
	for _, tok := range strings.Split(strings.TrimPrefix(pointer, "/"), "/") {
		if tok == "" {
			continue
		}
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		if isIndex(tok) {
			b.WriteString("[" + tok + "]")
			continue
		}
		b.WriteString("." + tok)
	}
	return b.String()
}

func isIndex(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}
