package health_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/clusterhealth/healthd/internal/health"
)

// FuzzParsePolicy checks that ParsePolicy never panics, that what it rejects
// comes as one-line field errors, and that what it accepts passes Validate
// and survives a JSON round trip unchanged (the registration travels as a
// Temporal payload).
func FuzzParsePolicy(f *testing.F) {
	for _, pattern := range []string{"*.yaml", "*.json"} {
		files, err := filepath.Glob(filepath.Join("testdata", "policies", pattern))
		if err != nil {
			f.Fatal(err)
		}
		for _, name := range files {
			data, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Add(spec("interval: 0\n"+pollingModes, recreate))
	f.Add(spec(pollURL("poll_url: 'http://[::1]:80/{nodename}'", "poll_url_healthy_response: '\\d+'"), recreate))
	f.Add(spec(pollingModes, "actions:\n  - name: REBOOT\n    params: {a: &x [1, 2.5, {b: ~}], c: *x, d: 1e3}"))
	f.Add([]byte(`{"type":"senlin.policy.health","version":1.2,"properties":{"detection":{"detection_modes":[{"type":"LIFECYCLE_EVENTS"}]},"recovery":{"actions":[{"name":"RECREATE","params":{"k":[null,true,-0.5]}}],"fencing":["COMPUTE"]}}}`))

	limits := []health.Limits{health.DefaultLimits, {IntervalMin: 0, IntervalMax: 0}}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, lim := range limits {
			pol, err := health.ParsePolicy(data, lim)
			if err != nil {
				var ve *health.ValidationError
				if !errors.As(err, &ve) || len(ve.Errors) == 0 {
					t.Fatalf("got error %T %q, want a non-empty *ValidationError", err, err)
				}
				for _, fe := range ve.Errors {
					if fe.Rule == "" || strings.Contains(fe.Error(), "\n") {
						t.Fatalf("got field error %q, want a non-empty rule on one line", fe.Error())
					}
				}
				continue
			}
			reg := pol.Registration("fuzz-cluster")
			if err := reg.Validate(lim); err != nil {
				t.Fatalf("Validate of an accepted policy: got\n%v\nwant nil; spec:\n%q", err, data)
			}
			out, err := json.Marshal(reg)
			if err != nil {
				t.Fatalf("json.Marshal: got %v, want nil", err)
			}
			var back health.Registration
			if err := json.Unmarshal(out, &back); err != nil {
				t.Fatalf("json.Unmarshal: got %v, want nil", err)
			}
			if !reflect.DeepEqual(back, reg) {
				t.Fatalf("JSON round trip:\ngot  %#v\nwant %#v", back, reg)
			}
			if reg.Summary() == "" {
				t.Fatal("got an empty summary, want one line")
			}
		}
	})
}
