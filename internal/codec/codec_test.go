package codec_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"

	"github.com/clusterhealth/healthd/internal/codec"
)

func key(t *testing.T) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func keysFile(t *testing.T, lines ...string) string {
	p := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// A payload is unreadable once encoded, and the same once decoded; a key
// put behind a new one still decrypts (rotation); a payload from before the
// codec passes through; a tampered one, or one of a dropped key, fails.
func TestCodec(t *testing.T) {
	k1, k2 := key(t), key(t)
	old, err := codec.Load(keysFile(t, "k1 "+k1))
	if err != nil {
		t.Fatal(err)
	}
	dc := old.DataConverter()
	const secret = "http://user:pa55word@node-1/health?token=t0k3n"
	p, err := dc.ToPayload(map[string]string{"poll_url": secret})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(p.Data, []byte("pa55word")) || string(p.Metadata[converter.MetadataEncoding]) != codec.Encoding ||
		string(p.Metadata[codec.MetadataKeyID]) != "k1" {
		t.Fatalf("encoded: got %q %v, want encrypted with k1", p.Data, p.Metadata)
	}
	rotated, err := codec.Load(keysFile(t, "# new key first", "k2 "+k2, "k1 "+k1))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	if err := rotated.DataConverter().FromPayload(p, &got); err != nil || got["poll_url"] != secret {
		t.Fatalf("decoded after rotation: got %v, %v", got, err)
	}
	if q, _ := rotated.DataConverter().ToPayload("x"); string(q.Metadata[codec.MetadataKeyID]) != "k2" {
		t.Errorf("after rotation: encrypted with %s, want k2", q.Metadata[codec.MetadataKeyID])
	}
	plain, _ := converter.GetDefaultDataConverter().ToPayload("recorded before the codec")
	var s string
	if err := dc.FromPayload(plain, &s); err != nil || s != "recorded before the codec" {
		t.Errorf("a plain payload: got %q, %v", s, err)
	}
	tampered := &commonpb.Payload{Metadata: p.Metadata, Data: append([]byte{}, p.Data...)}
	tampered.Data[len(tampered.Data)-1] ^= 1
	if _, err := old.Decode([]*commonpb.Payload{tampered}); err == nil {
		t.Error("a tampered payload: decoded, want an error")
	}
	onlyK2, _ := codec.Load(keysFile(t, "k2 "+k2))
	if _, err := onlyK2.Decode([]*commonpb.Payload{p}); err == nil || !strings.Contains(err.Error(), `no key "k1"`) {
		t.Errorf("a payload of a dropped key: got %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	k := key(t)
	for _, tc := range []struct {
		lines []string
		want  string
	}{
		{nil, "holds no key"},
		{[]string{"k1"}, "line 1: must be"},
		{[]string{"k/1 " + k}, "line 1: must be"},
		{[]string{"k1 c2hvcnQ="}, "line 1: key k1 must be 32 bytes"},
		{[]string{"k1 " + k, "k1 " + k}, "line 2: key k1 is there twice"},
	} {
		_, err := codec.Load(keysFile(t, tc.lines...))
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), k) {
			t.Errorf("%q: got %v, want %q and no key", tc.lines, err, tc.want)
		}
	}
}

// The codec server decodes for the UI's origin, and answers its preflight.
func TestHandler(t *testing.T) {
	c, err := codec.Load(keysFile(t, "k1 "+key(t)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(codec.Handler(c, "http://127.0.0.1:8233"))
	defer srv.Close()
	p, _ := c.DataConverter().ToPayload("node web-1")
	body, _ := json.Marshal(map[string]any{"payloads": []any{map[string]any{"metadata": p.Metadata, "data": p.Data}}})
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/decode", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "http://127.0.0.1:8233")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Payloads []struct {
			Data []byte `json:"data"`
		} `json:"payloads"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || len(out.Payloads) != 1 || string(out.Payloads[0].Data) != `"node web-1"` {
		t.Errorf("/decode: got %d %+v (%v)", resp.StatusCode, out, err)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "http://127.0.0.1:8233" {
		t.Errorf("CORS: got %q", got)
	}
}
