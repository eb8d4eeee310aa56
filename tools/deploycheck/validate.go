package deploycheck

import "fmt"

// Result is one overlay's (or example's) outcome.
type Result struct {
	Overlay string
	Objects int
	Errors  []error
}

// ValidateK8s renders and checks every overlay and every example under
// root (deployments/k8s).
func ValidateK8s(root string) ([]Result, error) {
	dirs, err := Overlays(root)
	if err != nil {
		return nil, err
	}
	examples, err := Examples(root)
	if err != nil {
		return nil, err
	}
	dirs = append(dirs, examples...)
	var results []Result
	for _, dir := range dirs {
		set, errs := Load(dir)
		r := Result{Overlay: dir, Errors: errs}
		if set != nil {
			r.Objects = set.Count
			r.Errors = append(r.Errors, set.Check()...)
		}
		results = append(results, r)
	}
	return results, nil
}

// Failed counts the errors across results.
func Failed(results []Result) int {
	n := 0
	for _, r := range results {
		n += len(r.Errors)
	}
	return n
}

// Summary is one line per overlay.
func (r Result) Summary() string {
	if len(r.Errors) == 0 {
		return fmt.Sprintf("ok    %s (%d objects)", r.Overlay, r.Objects)
	}
	return fmt.Sprintf("FAIL  %s (%d objects, %d problems)", r.Overlay, r.Objects, len(r.Errors))
}
