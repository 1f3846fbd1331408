// Package kubernetes holds the plain Kubernetes manifests that deploy
// catering-match (kubectl apply -k deploy/kubernetes), and the test that
// decodes them strictly into the Kubernetes API types and checks them
// against the binary's flags, its operations endpoints and its shutdown
// timeouts. It has no code of its own.
package kubernetes
