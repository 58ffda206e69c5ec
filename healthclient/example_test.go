package healthclient_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/clusterhealth/healthd/healthclient"
	"github.com/clusterhealth/healthd/workflows"
)

// An engine outside this module registers one of its clusters: it parses the
// cluster's Senlin health policy, turns it into the cluster's registration and
// starts the cluster's ClusterHealth workflow. It imports no internal package
// (TestExamplesUsePublicPackagesOnly keeps it so).
func ExampleClient_Register() {
	const spec = `
type: senlin.policy.health
version: 1.1
properties:
  detection:
    interval: 120
    recovery_conditional: ANY_FAILED
    detection_modes:
      - type: NODE_STATUS_POLL_URL
        options:
          poll_url: "http://{nodename}:8080/healthz"
          poll_url_retry_limit: 3
  recovery:
    actions:
      - name: RECREATE
`
	pol, err := healthclient.ParsePolicy([]byte(spec), healthclient.DefaultLimits)
	var invalid *healthclient.ValidationError
	if errors.As(err, &invalid) {
		for _, problem := range invalid.Errors {
			log.Printf("policy: %s", problem) // for example properties.detection.interval: ...
		}
		return
	}
	if err != nil {
		log.Fatal(err)
	}
	reg := pol.Registration("6a1f0c2e-cluster-id")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{HostPort: client.DefaultHostPort})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	hc := healthclient.New(c)
	runID, err := hc.Register(ctx, reg, healthclient.RegisterOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("watching cluster %s (%s): workflow %s, run %s\n",
		reg.ClusterID, reg.Summary(), workflows.WorkflowID(reg.ClusterID), runID)
}
