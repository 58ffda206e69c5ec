// Package testkit holds what only tests use: real servers started for a test
// (pgtest, rabbittest, temporaltest), certificates (tlstest), processes
// (proctest), the in-memory engine (enginetest) and the engine contract
// suite (enginecontract). Production binaries never import it.
//
// A test that needs a real server says so with Integration, which leaves it
// out of `go test -short`: the fast suite runs in under a minute, the whole
// one in CI.
package testkit

import "testing"

// Integration marks a test that needs real servers (what names them): it is
// skipped under -short, and runs (failing when the server is missing)
// otherwise.
func Integration(t testing.TB, what string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("needs %s: an integration test, left out by -short", what)
	}
}
