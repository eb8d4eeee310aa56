// Package product is Hopper's AI product layer, shared by its built-in
// chat, document and maintenance worker services and by the gateway's
// domain routes: the product's kinds — their names, definitions and
// payloads, whose JSON Schemas the services publish to the catalogue —
// and the checks those payloads need beyond their schemas.
//
// The platform packages (jobs, store, broker, worker, dispatch, config)
// never import it: the built-in services register these kinds through
// the public SDK (package hopper), exactly as a user's own service does.
package product

import (
	"fmt"

	"github.com/hopperq/hopper/pkg/jobs"
)

// invalid is a validation error naming the payload field.
func invalid(field, format string, args ...any) *jobs.ValidationError {
	return &jobs.ValidationError{Field: field, Message: fmt.Sprintf(format, args...)}
}
