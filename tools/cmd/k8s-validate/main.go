// Command k8s-validate renders every kustomize overlay and example under
// deployments/k8s and checks it (see package deploycheck). It exits 1 and
// lists every problem when one is found.
//
//	go run ./tools/cmd/k8s-validate [-root deployments/k8s]
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/hopperq/hopper/tools/deploycheck"
)

func main() {
	root := flag.String("root", "deployments/k8s", "directory holding base/, components/, overlays/ and examples/")
	flag.Parse()
	results, err := deploycheck.ValidateK8s(*root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "k8s-validate:", err)
		os.Exit(1)
	}
	for _, r := range results {
		fmt.Println(r.Summary())
		for _, e := range r.Errors {
			fmt.Println("      ", e)
		}
	}
	if n := deploycheck.Failed(results); n > 0 {
		fmt.Fprintf(os.Stderr, "k8s-validate: %d problems\n", n)
		os.Exit(1)
	}
}
