package proctest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPortsAreFreeAndDistinct(t *testing.T) {
	ports, err := Ports(3, 40000, 40100, func(p int) bool { return p == 40050 })
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p < 40000 || p >= 40100 || p == 40050 || seen[p] {
			t.Errorf("got port %d in %v, want distinct ports in [40000, 40100) but 40050", p, ports)
		}
		seen[p] = true
	}
}

func TestAliveAndPIDFiles(t *testing.T) {
	if !Alive(os.Getpid()) {
		t.Error("this process: got not alive")
	}
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	if got := ReadPID(pidFile); got != 0 {
		t.Errorf("missing pid file: got %d, want 0", got)
	}
	if err := os.WriteFile(pidFile, []byte("4242\n/data\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := ReadPID(pidFile); got != 4242 {
		t.Errorf("postmaster-style pid file: got %d, want 4242", got)
	}
}

func TestLogSinceAndTail(t *testing.T) {
	l := Log(filepath.Join(t.TempDir(), "server.log"))
	if err := os.WriteFile(string(l), []byte("old line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	off := l.Size()
	f, _ := os.OpenFile(string(l), os.O_APPEND|os.O_WRONLY, 0)
	_, _ = f.WriteString(strings.Repeat("new line\n", 1000))
	_ = f.Close()
	if got := l.Since(off); strings.Contains(got, "old") || !strings.HasPrefix(got, "new line") {
		t.Errorf("since: got %q...", got[:20])
	}
	if got := l.Tail(off); len(got) > 6010 || !strings.HasPrefix(got, "...\nnew line") {
		t.Errorf("tail: got %d bytes starting %q", len(got), got[:12])
	}
}
