package enginetest_test

import (
	"testing"

	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/testkit/enginecontract"
	"github.com/clusterhealth/healthd/internal/testkit/enginetest"
)

// The in-memory engine keeps the engine contract as the store does.
func TestEngineContract(t *testing.T) {
	enginecontract.Run(t, func(t *testing.T) enginecontract.Subject {
		e := enginetest.New(nil)
		e.SetAutoFinish("") // the contract's actions stay READY until finished
		return enginecontract.Subject{
			Store:      e,
			AddCluster: func(_ *testing.T, c health.Cluster, nodes ...health.Node) { e.AddCluster(c, nodes...) },
			Finish: func(t *testing.T, id string, status health.ActionStatus, reason string) {
				if err := e.FinishAction(id, status, reason); err != nil {
					t.Fatal(err)
				}
			},
		}
	})
}
