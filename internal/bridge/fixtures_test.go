package bridge

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fixtureDir holds real oslo.messaging deliveries, copied unedited with their
// provenance (HOW-PRODUCED.txt) and checksums (SHA256SUMS).
const fixtureDir = "testdata/oslo"

// fixture is one captured delivery: the body as amqp091-go returned it and the
// delivery's properties.
type fixture struct {
	name string // file prefix, without .body.json
	body []byte
	amqp amqpProps
}

// amqpProps is the part of a *.amqp.json capture the tests use.
type amqpProps struct {
	Exchange        string         `json:"exchange"`
	RoutingKey      string         `json:"routing_key"`
	ContentType     string         `json:"content_type"`
	ContentEncoding string         `json:"content_encoding"`
	DeliveryMode    uint8          `json:"delivery_mode"`
	Headers         map[string]any `json:"headers"`
	BodyLen         int            `json:"body_len"`
}

// loadFixtures reads every captured delivery, sorted by name.
func loadFixtures(tb testing.TB) []fixture {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join(fixtureDir, "*.body.json"))
	if err != nil || len(paths) == 0 {
		tb.Fatalf("glob fixtures: got %d files, err %v; want some", len(paths), err)
	}
	slices.Sort(paths)
	var out []fixture
	for _, p := range paths {
		name := strings.TrimSuffix(filepath.Base(p), ".body.json")
		body, err := os.ReadFile(p)
		if err != nil {
			tb.Fatalf("read fixture: %v", err)
		}
		raw, err := os.ReadFile(filepath.Join(fixtureDir, name+".amqp.json"))
		if err != nil {
			tb.Fatalf("read fixture properties: %v", err)
		}
		f := fixture{name: name, body: body}
		if err := json.Unmarshal(raw, &f.amqp); err != nil {
			tb.Fatalf("decode %s.amqp.json: %v", name, err)
		}
		if f.amqp.BodyLen != len(body) {
			tb.Fatalf("%s: got body of %d bytes, want body_len %d from the capture", name, len(body), f.amqp.BodyLen)
		}
		out = append(out, f)
	}
	return out
}

// fixtureByName returns one fixture.
func fixtureByName(tb testing.TB, name string) fixture {
	tb.Helper()
	for _, f := range loadFixtures(tb) {
		if f.name == name {
			return f
		}
	}
	tb.Fatalf("no fixture %q", name)
	return fixture{}
}

// TestFixtureChecksums proves the copies are the captured bodies, byte for
// byte, and that no body goes unlisted.
func TestFixtureChecksums(t *testing.T) {
	sums, err := os.ReadFile(filepath.Join(fixtureDir, "SHA256SUMS"))
	if err != nil {
		t.Fatalf("read SHA256SUMS: %v", err)
	}
	listed := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(sums))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		want, file, ok := strings.Cut(line, "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q: want \"<sum>  <file>\"", line)
		}
		// The list names the first captures relative to the fixtures root
		// (oslo/...) and the later ones relative to this directory.
		file = strings.TrimPrefix(file, "oslo/")
		body, err := os.ReadFile(filepath.Join(fixtureDir, file))
		if err != nil {
			t.Errorf("read %s: %v", file, err)
			continue
		}
		sum := sha256.Sum256(body)
		if got := hex.EncodeToString(sum[:]); got != want {
			t.Errorf("%s: got sha256 %s, want %s", file, got, want)
		}
		listed[file] = true
	}
	for _, f := range loadFixtures(t) {
		if !listed[f.name+".body.json"] {
			t.Errorf("%s.body.json: not listed in SHA256SUMS", f.name)
		}
	}
	if _, err := os.Stat(filepath.Join(fixtureDir, "HOW-PRODUCED.txt")); err != nil {
		t.Errorf("provenance: %v", err)
	}
}
