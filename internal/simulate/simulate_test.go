package simulate

import (
	"strings"
	"testing"
	"time"
)

// Every shipped scenario runs the real workflow to its end and shows what its
// expect section says.
func TestShippedScenarios(t *testing.T) {
	names := Shipped()
	if len(names) < 6 {
		t.Fatalf("got %d shipped scenarios, want at least 6: %v", len(names), names)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			sc, err := LoadShipped(name)
			if err != nil {
				t.Fatal(err)
			}
			reg, ok, err := sc.Registration()
			if err != nil || !ok {
				t.Fatalf("policy: got ok %v err %v, want the scenario's own", ok, err)
			}
			begin := time.Now()
			res, err := Run(reg, sc)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			if err := res.Write(&b); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %s of simulated time in %s\n%s", name, time.Duration(sc.Duration), time.Since(begin).Round(time.Millisecond), b.String())
			if sc.Expect == nil {
				t.Fatal("a shipped scenario must say what it expects")
			}
			if err := res.Check(sc); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestParseNamesTheBadField(t *testing.T) {
	_, err := Parse([]byte("name: x\nnodes: 3\nduration: 10m\nsteps:\n  - {at: 20m, fail: [web-9]}\n"))
	for _, want := range []string{"steps[0].at: 20m0s is after the scenario's duration 10m0s", `steps[0].fail: no node "web-9"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want it to say %q", err, want)
		}
	}
	if _, err := Parse([]byte("name: x\nnodes: 3\nduration: 10m\nsurprise: 1\n")); err == nil || !strings.Contains(err.Error(), "surprise") {
		t.Errorf("unknown field: got %v, want it named", err)
	}
}
