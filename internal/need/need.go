// Package need lets a test say that the machine lacks something it needs — the oracle
// fixtures, a Vulkan driver, a browser, the npm peers — so that the test skips on a
// developer's machine but fails where everything must be there.
//
// .ci/run sets T2_REQUIRE=1: there `go test` printing "ok" means every such test ran,
// and a missing dependency is a failure that names it, not a skip nobody reads.
package need

import (
	"os"
	"testing"
)

// Env is the variable that turns missing dependencies into failures when set (non-empty).
const Env = "T2_REQUIRE"

// Skip skips the test, saying what is missing (msg), or fails it when $T2_REQUIRE is set.
func Skip(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv(Env) != "" {
		fail(t, msg)
		return // fail does not return; a TB that records it does
	}
	t.Skip(msg)
}

// Missing is for a test that runs without the dependency but covers less: it fails the
// test when $T2_REQUIRE is set, and does nothing otherwise.
func Missing(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv(Env) != "" {
		fail(t, msg)
	}
}

func fail(t testing.TB, msg string) {
	t.Helper()
	t.Fatalf("%s is set and this test's dependency is missing: %s", Env, msg)
}
