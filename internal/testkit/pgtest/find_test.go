package pgtest

import (
	"fmt"
	"github.com/clusterhealth/healthd/internal/testkit"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// fatalRecorder is a testing.TB whose Fatalf records the message and ends the
// goroutine, as the real one does, without failing the test.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// Without the server binaries Start fails the test, saying how to install
// them; it never skips.
func TestStartFailsWithoutBinaries(t *testing.T) {
	testkit.Integration(t, "the helper as integration tests use it (under -short it skips instead of failing)")
	root := t.TempDir()
	// A version directory without binaries does not count.
	if err := os.MkdirAll(filepath.Join(root, "15", "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	old := debianRoot
	debianRoot = root
	t.Cleanup(func() { debianRoot = old })
	t.Setenv("PATH", t.TempDir())

	r := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Start(r)
		r.msg = "(Start returned)"
	}()
	<-done
	if !strings.Contains(r.msg, "PostgreSQL server binaries not found") || !strings.Contains(r.msg, "scripts/ensure-services.sh") {
		t.Errorf("Start without binaries: got %q, want a failure naming the missing binaries and how to install them", r.msg)
	}
	if t.Skipped() {
		t.Error("Start without binaries skipped the test")
	}
}

// The newest installed version is used.
func TestFindBinPrefersTheNewestVersion(t *testing.T) {
	root := t.TempDir()
	for _, v := range []string{"9", "15", "13", "16"} {
		bin := filepath.Join(root, v, "bin")
		if err := os.MkdirAll(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		if v == "16" {
			continue // incomplete: no programs
		}
		for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
			if err := os.WriteFile(filepath.Join(bin, name), nil, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	old := debianRoot
	debianRoot = root
	t.Cleanup(func() { debianRoot = old })
	got, err := findBin()
	if want := filepath.Join(root, "15", "bin"); err != nil || got != want {
		t.Errorf("findBin: got %q, %v; want %q", got, err, want)
	}
}
