package app_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap/zaptest"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/clusterhealth/healthd/internal/app"
	"github.com/clusterhealth/healthd/internal/codec"
	"github.com/clusterhealth/healthd/workflows"
)

// With TEMPORAL_CODEC_KEYS_FILE, a poll URL's credentials and every other
// payload are unreadable in Temporal (its history, its description, the
// status query's raw answer), while a client with the keys works as before
// and the codec server shows them to the UI.
func TestCodecKeepsPayloadsOutOfTemporal(t *testing.T) {
	ctx := context.Background()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	keys := filepath.Join(t.TempDir(), "codec-keys")
	require.NoError(t, os.WriteFile(keys, []byte("k1 "+base64.StdEncoding.EncodeToString(key)+"\n"), 0o600))
	temporalSrv := startTemporal(t)
	cfg := testConfig(t, temporalSrv.Address)
	cfg.Temporal.CodecKeysFile = keys
	m := runApp(t, cfg, zaptest.NewLogger(t), app.RoleHealth, app.RoleEngine)

	ns := newNodes(t, "n-1", "n-2")
	if err := seedCluster(ctx, m.Store, "c-codec", ns.hook.URL, []string{"n-1", "n-2"}); err != nil {
		t.Fatal(err)
	}
	const password, token = "pw-5ec2e7", "tok-9b1d44"
	u, err := url.Parse(ns.srv.URL)
	require.NoError(t, err)
	u.User = url.UserPassword("probe", password)
	reg := pollURLRegistration("c-codec", u.String(), 60)
	reg.DetectionModes[0].PollURL += "?token=" + token

	cd, err := codec.Load(keys)
	require.NoError(t, err)
	withKeys, err := client.Dial(client.Options{HostPort: temporalSrv.Address, DataConverter: cd.DataConverter()})
	require.NoError(t, err)
	t.Cleanup(withKeys.Close)
	startCluster(t, withKeys, reg)
	require.Eventually(t, func() bool { return clusterStatus(ctx, withKeys, "c-codec").Counters.Rounds >= 2 }, 30*time.Second, waitTick,
		"waiting for two rounds, read with the keys")

	raw := dialTemporal(t, temporalSrv.Address) // no keys: what the UI and the CLI see
	var seen bytes.Buffer
	for _, run := range clusterHistory(t, raw, workflows.WorkflowID("c-codec")) {
		for _, e := range run {
			b, _ := protojson.Marshal(e)
			seen.Write(b)
		}
	}
	desc, err := raw.DescribeWorkflowExecution(ctx, workflows.WorkflowID("c-codec"), "")
	require.NoError(t, err)
	b, _ := protojson.Marshal(desc)
	seen.Write(b)
	v, err := raw.QueryWorkflow(ctx, workflows.WorkflowID("c-codec"), "", workflows.QueryStatus)
	require.NoError(t, err)
	var answer workflows.Status
	if err := v.Get(&answer); err == nil {
		t.Errorf("the status read without the keys: decoded %+v, want it unreadable", answer)
	}
	for _, secret := range []string{password, token, "n-1", ns.srv.URL} {
		if strings.Contains(seen.String(), secret) {
			t.Errorf("Temporal holds %q in clear", secret)
		}
	}

	// The codec server gives the UI the first input in clear.
	hist := clusterHistory(t, raw, workflows.WorkflowID("c-codec"))
	in := hist[0][0].GetWorkflowExecutionStartedEventAttributes().GetInput()
	body, err := protojson.Marshal(in)
	require.NoError(t, err)
	srv := httptest.NewServer(codec.Handler(cd, ""))
	t.Cleanup(srv.Close)
	resp, err := http.Post(srv.URL+"/decode", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	var decoded struct {
		Payloads []struct {
			Data []byte `json:"data"`
		} `json:"payloads"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&decoded))
	if len(decoded.Payloads) != 1 || !strings.Contains(string(decoded.Payloads[0].Data), `"cluster_id":"c-codec"`) ||
		!strings.Contains(string(decoded.Payloads[0].Data), token) {
		t.Errorf("the codec server's answer: got %+v, want the input in clear", decoded)
	}
}
