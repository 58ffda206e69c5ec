package health

import (
	"strings"
	"testing"
)

// FuzzInertNames checks the shortcut of PollTemplate.For: for any template and
// any name of letters, digits, '-', '_' and '~' it gives what every check
// gives, URL and error alike.
func FuzzInertNames(f *testing.F) {
	for _, tmpl := range []string{
		"http://10.0.0.1:8080/health/{nodename}?check=full",
		"http://{nodename}.nodes.example:8080/healthz",
		"http://x/a/{nodename}/../..",
		"http://x/a/..;{nodename}",
		"http://x/{nodename}?n={nodename}#{nodename}",
		"{nodename}://x/",
		"http://u:{nodename}@x/",
		"http://x:{nodename}/",
		"_{nodename}:x",
		"http://x/%2e{nodename}",
		"http://x/{nodename}%",
		"http://x\\{nodename}",
		"/{nodename}",
		"http://[::1]:80/{nodename}",
	} {
		for _, name := range []string{"web-1", "1", "~", "_", "A-b_c~9", "nodenamex"} {
			f.Add(tmpl, name)
		}
	}
	f.Fuzz(func(t *testing.T, tmpl, name string) {
		if !inertName(name) {
			name = strings.Map(func(r rune) rune {
				if r < 0x80 && r != '.' && unreserved(byte(r)) {
					return r
				}
				return -1
			}, name)
			if name == "" {
				return
			}
		}
		pt := DetectionMode{PollURL: tmpl}.Template()
		if pt.mark == "" {
			return // no placeholder: the template as it is
		}
		got, gotErr := pt.For(name)
		want, wantErr := pt.checked(name)
		if got != want || (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
			t.Fatalf("template %q, name %q: For gives %q, %v; every check gives %q, %v", tmpl, name, got, gotErr, want, wantErr)
		}
	})
}
