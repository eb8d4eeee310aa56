package jobs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Workflows (issue 20): named steps, each a job of any kind, with
// dependencies, fan-out over a list and a failure policy. This file holds
// the request's shape and its checks; the store keeps and resolves them.

// Workflow limits: every byte of a workflow request is bounded (the body
// by the gateway's HOPPER_MAX_BODY_BYTES, each step's payload by
// MaxPayloadBytes as a job's), and so is the work one request can start.
const (
	MaxWorkflowSteps     = 100
	MaxFanOut            = 1000 // elements of one for_each: one enqueue batch
	MaxStepNameBytes     = 64
	MaxWorkflowNameBytes = 200
	MaxForEachPathBytes  = 256
	MaxForEachPathDepth  = 8
)

// Failure policies: what a failed step does to the rest of its workflow.
const (
	// FailureStop cancels the queued and waiting steps; running ones
	// finish. The workflow fails.
	FailureStop = "stop"
	// FailureContinue skips the steps that depend (transitively) on the
	// failed one; the others still run. The workflow fails at the end.
	FailureContinue = "continue"
)

// Fields a fan-out element's job finds in its payload, beside the step's
// own payload fields.
const (
	ElementItemField  = "item"  // the list element
	ElementIndexField = "index" // its position, from 0
)

// WorkflowRequest is POST /v1/workflows's body.
type WorkflowRequest struct {
	Name           string                `json:"name,omitempty"`
	IdempotencyKey string                `json:"idempotency_key,omitempty"`
	FailurePolicy  string                `json:"failure_policy,omitempty"` // stop (default) or continue
	Steps          []WorkflowStepRequest `json:"steps"`
}

// WorkflowStepRequest is one step: a job of Kind with Payload and
// Options, run when every step of DependsOn has succeeded, once or once
// per element of ForEach.
type WorkflowStepRequest struct {
	Name      string          `json:"name"`
	Kind      string          `json:"kind"`
	Payload   json.RawMessage `json:"payload,omitempty"`
	Options   StepOptions     `json:"options,omitempty"`
	DependsOn []string        `json:"depends_on,omitempty"`
	ForEach   *ForEach        `json:"for_each,omitempty"`
}

// StepOptions are a step's job options, as a job submit's.
type StepOptions struct {
	Priority    json.RawMessage `json:"priority,omitempty"`
	MaxAttempts *int            `json:"max_attempts,omitempty"`
	Timeout     json.RawMessage `json:"timeout,omitempty"`
}

// ForEach fans a step out: one job per element of Items, or of the list
// at Path in the result of parent step From. It reads from JSON either a
// list (the items) or an object {"items": [...]} / {"from", "path"}.
type ForEach struct {
	Items []json.RawMessage `json:"items,omitempty"`
	From  string            `json:"from,omitempty"`
	Path  string            `json:"path,omitempty"`
}

// UnmarshalJSON accepts a bare list as the items.
func (f *ForEach) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		return json.Unmarshal(b, &f.Items)
	}
	type plain ForEach
	var p plain
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return err
	}
	*f = ForEach(p)
	return nil
}

// Literal reports whether f lists its items itself.
func (f *ForEach) Literal() bool { return f != nil && f.From == "" }

// WorkflowPlan is a validated workflow request: steps in the order given.
type WorkflowPlan struct {
	Name           string
	IdempotencyKey string
	FailurePolicy  string
	Steps          []PlannedStep
}

// PlannedStep is a validated step: its job spec (kind defaults filled,
// not yet bounded by a plan) and graph.
type PlannedStep struct {
	Name      string
	Spec      Spec
	DependsOn []string
	ForEach   *ForEach
	// PriorityAsked and AttemptsAsked say whether the request named them,
	// for the plan's bounds.
	PriorityAsked json.RawMessage
	AttemptsAsked bool
}

// ValidateWorkflow checks req whole before anything is written: names,
// dependencies (unknown, duplicate, cycles), bounds, and each step as a
// job submit against c (a fan-out step with each of its literal
// elements). A *ValidationError names the field, e.g.
// steps[2].payload.board.
func ValidateWorkflow(c Catalog, req WorkflowRequest) (WorkflowPlan, error) {
	if len(req.Name) > MaxWorkflowNameBytes || strings.ContainsFunc(req.Name, isControl) {
		return WorkflowPlan{}, invalid("name", "want at most %d bytes without control characters", MaxWorkflowNameBytes)
	}
	if req.IdempotencyKey != "" {
		if err := ValidateIdempotencyKey(req.IdempotencyKey); err != nil {
			return WorkflowPlan{}, invalid("idempotency_key", "%s", strings.TrimPrefix(err.Error(), "Idempotency-Key: "))
		}
	}
	policy := req.FailurePolicy
	switch policy {
	case "":
		policy = FailureStop
	case FailureStop, FailureContinue:
	default:
		return WorkflowPlan{}, invalid("failure_policy", "%q: want stop or continue", policy)
	}
	if len(req.Steps) == 0 || len(req.Steps) > MaxWorkflowSteps {
		return WorkflowPlan{}, invalid("steps", "want 1 to %d steps, got %d", MaxWorkflowSteps, len(req.Steps))
	}
	index := make(map[string]int, len(req.Steps))
	for i, s := range req.Steps {
		f := stepField(i, "name")
		if err := checkStepName(s.Name); err != nil {
			return WorkflowPlan{}, invalid(f, "%v", err)
		}
		if j, dup := index[s.Name]; dup {
			return WorkflowPlan{}, invalid(f, "%q is also the name of steps[%d]", s.Name, j)
		}
		index[s.Name] = i
	}
	plan := WorkflowPlan{Name: req.Name, IdempotencyKey: req.IdempotencyKey, FailurePolicy: policy,
		Steps: make([]PlannedStep, len(req.Steps))}
	for i, s := range req.Steps {
		ps, err := validateStep(c, i, s, index, req.Steps)
		if err != nil {
			return WorkflowPlan{}, err
		}
		plan.Steps[i] = ps
	}
	if cycle := findCycle(req.Steps, index); cycle != nil {
		return WorkflowPlan{}, invalid("steps", "depends_on makes a cycle: %s", strings.Join(cycle, " → "))
	}
	return plan, nil
}

func stepField(i int, field string) string {
	return "steps[" + strconv.Itoa(i) + "]." + field
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// checkStepName allows names that read well in a URL path and a log.
func checkStepName(name string) error {
	if name == "" || len(name) > MaxStepNameBytes {
		return fmt.Errorf("want 1 to %d characters", MaxStepNameBytes)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return fmt.Errorf("%q: use letters, digits, '_', '-' and '.'", name)
		}
	}
	return nil
}

// validateStep checks step i of steps (index maps names to positions).
func validateStep(c Catalog, i int, s WorkflowStepRequest, index map[string]int, steps []WorkflowStepRequest) (PlannedStep, error) {
	if len(s.DependsOn) > MaxWorkflowSteps {
		return PlannedStep{}, invalid(stepField(i, "depends_on"), "lists %d steps, limit %d", len(s.DependsOn), MaxWorkflowSteps)
	}
	seen := make(map[string]bool, len(s.DependsOn))
	for j, d := range s.DependsOn {
		f := stepField(i, "depends_on["+strconv.Itoa(j)+"]")
		if _, ok := index[d]; !ok {
			return PlannedStep{}, invalid(f, "%q is not a step of this workflow", d)
		}
		if d == s.Name {
			return PlannedStep{}, invalid(f, "a step cannot depend on itself")
		}
		if seen[d] {
			return PlannedStep{}, invalid(f, "%q is listed twice", d)
		}
		seen[d] = true
	}
	sub := SubmitRequest{Kind: s.Kind, Payload: s.Payload, Priority: s.Options.Priority,
		MaxAttempts: s.Options.MaxAttempts, Timeout: s.Options.Timeout}
	spec, err := Validate(c, sub)
	if err != nil && s.ForEach != nil {
		// The elements' own fields may be required; each element is
		// checked with them below (literal) or at release (from a result).
		spec, err = validateFanOutBase(c, sub, err)
	}
	if err != nil {
		return PlannedStep{}, prefixStep(i, err)
	}
	ps := PlannedStep{Name: s.Name, Spec: spec, DependsOn: s.DependsOn, ForEach: s.ForEach,
		PriorityAsked: s.Options.Priority, AttemptsAsked: s.Options.MaxAttempts != nil}
	if s.ForEach == nil {
		return ps, nil
	}
	if err := checkForEach(i, s, spec.Payload, seen, steps, index); err != nil {
		return PlannedStep{}, err
	}
	if k, ok := c.Lookup(s.Kind); ok && k.CheckPayload != nil {
		for j, item := range s.ForEach.Items {
			p, err := ElementPayload(spec.Payload, item, j)
			if err == nil {
				err = k.CheckPayload(p)
			}
			if err != nil {
				return PlannedStep{}, prefixField(stepField(i, "for_each.items["+strconv.Itoa(j)+"]")+" → ", prefixStep(i, err))
			}
		}
	}
	return ps, nil
}

// validateFanOutBase accepts a fan-out step's payload whose only fault is
// a missing element field (item or index, added per element).
func validateFanOutBase(c Catalog, sub SubmitRequest, first error) (Spec, error) {
	var ve *ValidationError
	if !errors.As(first, &ve) || (ve.Field != "payload."+ElementItemField && ve.Field != "payload."+ElementIndexField) {
		return Spec{}, first
	}
	k, _ := c.Lookup(sub.Kind)
	k.CheckPayload = nil
	return Validate(oneKind{k}, sub)
}

// oneKind is a catalogue of one kind.
type oneKind struct{ k Kind }

func (o oneKind) Lookup(name string) (Kind, bool) { return o.k, name == o.k.Name }
func (o oneKind) Names() []string                 { return []string{o.k.Name} }

// checkForEach checks step i's fan-out: a bounded literal list, or a
// parent's result path.
func checkForEach(i int, s WorkflowStepRequest, payload json.RawMessage, parents map[string]bool, steps []WorkflowStepRequest, index map[string]int) error {
	fe := s.ForEach
	field := stepField(i, "for_each")
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(payload, &fields); err != nil {
		return invalid(stepField(i, "payload"), "must be a JSON object")
	}
	for _, reserved := range []string{ElementItemField, ElementIndexField} {
		if _, taken := fields[reserved]; taken {
			return invalid(stepField(i, "payload."+reserved), "is set per element by for_each; leave it out")
		}
	}
	switch {
	case fe.From == "" && fe.Path != "":
		return invalid(field+".from", "is required with path")
	case fe.From == "":
		if len(fe.Items) > MaxFanOut {
			return invalid(field+".items", "has %d elements, limit %d", len(fe.Items), MaxFanOut)
		}
		return nil
	case len(fe.Items) > 0:
		return invalid(field, "takes items or from, not both")
	}
	if !parents[fe.From] {
		return invalid(field+".from", "%q must be one of the step's depends_on", fe.From)
	}
	if steps[index[fe.From]].ForEach != nil {
		return invalid(field+".from", "%q fans out itself; fan out from a step with one result", fe.From)
	}
	if _, err := splitPath(fe.Path); err != nil {
		return invalid(field+".path", "%v", err)
	}
	return nil
}

// prefixStep names step i in a validation error's field.
func prefixStep(i int, err error) error {
	return prefixField(stepField(i, ""), err)
}

func prefixField(prefix string, err error) error {
	var ve *ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	out := *ve
	out.Field = prefix + ve.Field
	return &out
}

// findCycle returns a cycle of depends_on (its names, the first repeated
// at the end), or nil.
func findCycle(steps []WorkflowStepRequest, index map[string]int) []string {
	const (
		unseen = iota
		onPath
		done
	)
	mark := make([]int, len(steps))
	var path []string
	var visit func(i int) []string
	visit = func(i int) []string {
		mark[i] = onPath
		path = append(path, steps[i].Name)
		for _, d := range steps[i].DependsOn {
			j := index[d]
			switch mark[j] {
			case onPath:
				start := 0
				for k, n := range path {
					if n == d {
						start = k
					}
				}
				return append(append([]string{}, path[start:]...), d)
			case unseen:
				if c := visit(j); c != nil {
					return c
				}
			}
		}
		path = path[:len(path)-1]
		mark[i] = done
		return nil
	}
	for i := range steps {
		if mark[i] == unseen {
			if c := visit(i); c != nil {
				return c
			}
		}
	}
	return nil
}

// ElementPayload is the payload of element index of a fan-out step whose
// payload is base (a JSON object): base with item and index added.
func ElementPayload(base, item json.RawMessage, index int) (json.RawMessage, error) {
	base = bytes.TrimSpace(base)
	if len(base) < 2 || base[0] != '{' || base[len(base)-1] != '}' {
		return nil, invalid("payload", "must be a JSON object")
	}
	item = bytes.TrimSpace(item)
	if len(item) == 0 {
		item = json.RawMessage("null")
	}
	var b bytes.Buffer
	b.Grow(len(base) + len(item) + 32)
	b.Write(base[:len(base)-1])
	if len(bytes.TrimSpace(base[1:len(base)-1])) > 0 {
		b.WriteByte(',')
	}
	fmt.Fprintf(&b, "%q:%s,%q:%d}", ElementItemField, item, ElementIndexField, index)
	if b.Len() > MaxPayloadBytes {
		return nil, invalid("payload", "is %d bytes with element %d, limit %d", b.Len(), index, MaxPayloadBytes)
	}
	return b.Bytes(), nil
}

// splitPath checks a for_each path: object keys separated by dots
// ("" is the result itself).
func splitPath(path string) ([]string, error) {
	if path == "" {
		return nil, nil
	}
	if len(path) > MaxForEachPathBytes {
		return nil, fmt.Errorf("longer than %d bytes", MaxForEachPathBytes)
	}
	keys := strings.Split(path, ".")
	if len(keys) > MaxForEachPathDepth {
		return nil, fmt.Errorf("%d keys deep, limit %d", len(keys), MaxForEachPathDepth)
	}
	for _, k := range keys {
		if k == "" {
			return nil, fmt.Errorf("%q has an empty key", path)
		}
	}
	return keys, nil
}

// ListAt returns the elements of the JSON list at path in doc, a parent's
// result: what a for_each {"from", "path"} fans out over.
func ListAt(doc json.RawMessage, path string) ([]json.RawMessage, error) {
	keys, err := splitPath(path)
	if err != nil {
		return nil, err
	}
	cur := doc
	for _, k := range keys {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(cur, &obj); err != nil {
			return nil, fmt.Errorf("no key %q: not an object", k)
		}
		v, ok := obj[k]
		if !ok {
			return nil, fmt.Errorf("no key %q", k)
		}
		cur = v
	}
	var list []json.RawMessage
	if err := json.Unmarshal(cur, &list); err != nil {
		return nil, fmt.Errorf("%q is not a list", path)
	}
	if len(list) > MaxFanOut {
		return nil, fmt.Errorf("%q has %d elements, limit %d", path, len(list), MaxFanOut)
	}
	return list, nil
}
