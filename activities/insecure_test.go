package activities_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"go.temporal.io/sdk/testsuite"

	"github.com/clusterhealth/healthd/activities"
	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/testkit/enginetest"
)

// captureLogger keeps the warnings logged through the SDK's logger.
type captureLogger struct {
	mu    sync.Mutex
	warns []string
}

func (l *captureLogger) Debug(string, ...any) {}
func (l *captureLogger) Info(string, ...any)  {}
func (l *captureLogger) Error(string, ...any) {}
func (l *captureLogger) Warn(msg string, kv ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.warns = append(l.warns, msg+" "+fmt.Sprint(kv...))
}

// Turning poll-URL TLS verification off is said once per cluster, however
// many rounds run.
func TestInsecurePollURLIsLoggedOncePerCluster(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	logs := &captureLogger{}
	s.SetLogger(logs)
	env := s.NewTestActivityEnvironment()
	e := enginetest.New(nil)
	e.AddCluster(health.Cluster{ID: "c1"}, enginetest.TwoNodes("")...)
	e.AddCluster(health.Cluster{ID: "c2"}, enginetest.TwoNodes("x")...)
	env.RegisterActivity(e.Activities())
	var a *activities.Activities
	insecure := health.DetectionMode{Type: health.NodeStatusPollURL, PollURL: "https://nodes.test/{nodename}", PollURLSSLVerify: false,
		PollURLConnErrorAsUnhealthy: true, PollURLRetryLimit: 1}
	for _, cid := range []string{"c1", "c1", "c1", "c2"} {
		if _, err := env.ExecuteActivity(a.CheckCluster, activities.CheckClusterInput{ClusterID: cid, Modes: []health.DetectionMode{insecure}}); err != nil {
			t.Fatal(err)
		}
	}
	secure := insecure
	secure.PollURLSSLVerify = true
	if _, err := env.ExecuteActivity(a.CheckCluster, activities.CheckClusterInput{ClusterID: "c1", Modes: []health.DetectionMode{secure}}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range logs.warns {
		if strings.Contains(w, "TLS verification is off") {
			got = append(got, w)
		}
	}
	if len(got) != 2 || !strings.Contains(got[0], "c1") || !strings.Contains(got[1], "c2") {
		t.Errorf("warnings: got %q, want one for c1 and one for c2", got)
	}
}
