// Package deploycheck checks Hopper's deployment files before anyone
// deploys them: it renders every Kubernetes overlay and example with
// kustomize (as a library), decodes each object strictly against the
// Kubernetes API types (an unknown or misspelt field fails), and applies
// Hopper's rules — probes, limits, non-root security contexts, a drain
// that fits the grace period, an autoscaler for every worker pointing at
// that worker's queue on the overlay's one vhost, a health server the
// probes and Prometheus reach. It also checks the compose stack and the
// Dockerfiles.
package deploycheck
