package need

import (
	"strings"
	"testing"
)

// recorder is a testing.TB that records how a test ended instead of ending it.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper()                      {}
func (r *recorder) Skip(args ...any)             { r.skipped = args[0].(string) }
func (r *recorder) Fatalf(f string, args ...any) { r.failed = strings.TrimSpace(f) }

// TestSkip: without T2_REQUIRE a missing dependency skips (Skip) or is let pass
// (Missing); with it, the test fails.
func TestSkip(t *testing.T) {
	for _, c := range []struct {
		env        string
		skip, fail bool
	}{{"", true, false}, {"1", false, true}} {
		t.Setenv(Env, c.env)
		r := &recorder{TB: t}
		Skip(r, "no browser")
		if (r.skipped == "no browser") != c.skip || (r.failed != "") != c.fail {
			t.Errorf("Skip, T2_REQUIRE=%q: skipped %q, failed %q; want skip %v, fail %v", c.env, r.skipped, r.failed, c.skip, c.fail)
		}
		r = &recorder{TB: t}
		Missing(r, "no fixtures")
		if r.skipped != "" || (r.failed != "") != c.fail {
			t.Errorf("Missing, T2_REQUIRE=%q: skipped %q, failed %q; want no skip, fail %v", c.env, r.skipped, r.failed, c.fail)
		}
	}
}
