package workflows_test

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// adapterModules are the modules that only the mains wire in: workflows and
// activities reach the database, the broker and the logger through the
// interfaces they define (see the layering rule in the style guide).
var adapterModules = []string{
	"github.com/jackc/pgx",
	"github.com/rabbitmq/amqp091-go",
	"go.uber.org/zap",
}

// TestLayering fails when workflows or activities depend, directly or through
// any package they import, on an adapter module; it names each import that
// brings one in.
func TestLayering(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the layering check runs go list: %v", err)
	}
	// One line per dependency: the package, then its imports.
	out, err := exec.Command(goCmd, "list", "-deps", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}",
		"github.com/clusterhealth/healthd/workflows", "github.com/clusterhealth/healthd/activities").Output()
	if err != nil {
		if ee, ok := errors.AsType[*exec.ExitError](err); ok {
			t.Fatalf("go list -deps: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list -deps: %v", err)
	}
	for line := range strings.Lines(string(out)) {
		pkg, imports, _ := strings.Cut(strings.TrimSpace(line), " ")
		if adapterModule(pkg) != "" {
			continue // the adapter's own packages: its entry point is reported
		}
		for _, imp := range strings.Fields(imports) {
			if mod := adapterModule(imp); mod != "" {
				t.Errorf("%s imports %s: workflows and activities must not depend on %s", pkg, imp, mod)
			}
		}
	}
}

// adapterModule returns the adapter module that pkg belongs to, or "".
func adapterModule(pkg string) string {
	for _, mod := range adapterModules {
		if pkg == mod || strings.HasPrefix(pkg, mod+"/") {
			return mod
		}
	}
	return ""
}
