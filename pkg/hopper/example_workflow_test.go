package hopper_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"time"

	"github.com/hopperq/hopper/pkg/hopper"
)

// Split, Embed and Index are a backend's own kinds, as a worker declares
// them.
type Split struct {
	URL string `json:"url"`
}

func (Split) Kind() hopper.KindSpec { return hopper.KindSpec{Name: "acme.split"} }

type Embed struct {
	Model string `json:"model"`
	Item  string `json:"item,omitempty"`  // the element of the fan-out
	Index int    `json:"index,omitempty"` // its position
}

func (Embed) Kind() hopper.KindSpec { return hopper.KindSpec{Name: "acme.embed"} }

type Index struct{}

func (Index) Kind() hopper.KindSpec { return hopper.KindSpec{Name: "acme.index"} }

// A pipeline: split a document, embed each chunk of split's result in
// parallel, then index once every chunk is embedded. Build shows the
// request the gateway receives.
func ExampleNewWorkflow() {
	req, err := hopper.NewWorkflow("index a book").
		IdempotencyKey("book-42").
		Step("split", Split{URL: "https://example.com/book.txt"}).
		Step("embed", Embed{Model: "small"}, hopper.FanOutFrom("split", "chunks"),
			hopper.StepMaxAttempts(5), hopper.StepTimeout(2*time.Minute)).
		Step("index", Index{}, hopper.DependsOn("embed")).
		Build()
	if err != nil {
		log.Fatal(err)
	}
	out, _ := json.MarshalIndent(req, "", "  ")
	fmt.Println(string(out))
	// Output:
	// {
	//   "name": "index a book",
	//   "idempotency_key": "book-42",
	//   "steps": [
	//     {
	//       "name": "split",
	//       "kind": "acme.split",
	//       "payload": {
	//         "url": "https://example.com/book.txt"
	//       },
	//       "options": {}
	//     },
	//     {
	//       "name": "embed",
	//       "kind": "acme.embed",
	//       "payload": {
	//         "model": "small"
	//       },
	//       "options": {
	//         "max_attempts": 5,
	//         "timeout": "2m0s"
	//       },
	//       "depends_on": [
	//         "split"
	//       ],
	//       "for_each": {
	//         "from": "split",
	//         "path": "chunks"
	//       }
	//     },
	//     {
	//       "name": "index",
	//       "kind": "acme.index",
	//       "payload": {},
	//       "options": {},
	//       "depends_on": [
	//         "embed"
	//       ]
	//     }
	//   ]
	// }
}

// A fan-out over a list known at submit, a fan-in, and the "continue"
// failure policy; Submit sends it (this one needs a running gateway).
func ExampleWorkflowBuilder_Submit() {
	c := exampleClient()
	ctx := context.Background()
	chunks := []string{"chapter 1", "chapter 2", "chapter 3"}
	acc, err := hopper.NewWorkflow("embed chapters").
		ContinueOnFailure().
		Step("embed", Embed{Model: "small"}, hopper.FanOut(chunks), hopper.StepPriority(1)).
		StepKind("notify", "maintenance.email", map[string]string{"to": "ops@example.com"}, hopper.DependsOn("embed")).
		Submit(ctx, c)
	if err != nil {
		log.Fatal(err)
	}
	for ev, err := range c.WorkflowEvents(ctx, acc.ID) {
		if err != nil {
			log.Fatal(err)
		}
		for _, s := range ev.Steps {
			fmt.Println(s.Name, s.State, s.JobsSucceeded, "/", s.JobsTotal)
		}
	}
}
