// Package deploycheck checks Hopper's deployment files before anyone
// deploys them: it renders every Kubernetes overlay with kustomize (as a
// library), decodes each object strictly against the Kubernetes API types
// (an unknown or misspelt field fails), and applies Hopper's rules — probes,
// limits, non-root security contexts, a drain that fits the grace period,
// an autoscaler for every worker pointing at that worker's queue. It also
// checks the compose stack and the Dockerfiles.
package deploycheck
