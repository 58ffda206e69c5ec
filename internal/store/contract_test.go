package store_test

import (
	"testing"

	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/store/storetest"
	"github.com/clusterhealth/healthd/internal/testkit/enginecontract"
)

// The store keeps the engine contract, on a real Postgres.
func TestEngineContract(t *testing.T) {
	enginecontract.Run(t, func(t *testing.T) enginecontract.Subject {
		s := storetest.New(t)
		return enginecontract.Subject{
			Store: s,
			AddCluster: func(t *testing.T, c health.Cluster, nodes ...health.Node) {
				if err := s.UpsertCluster(testContext(t), c); err != nil {
					t.Fatal(err)
				}
				for _, n := range nodes {
					n.ClusterID = c.ID
					seedNode(t, s, n)
				}
			},
			Finish: func(t *testing.T, id string, status health.ActionStatus, reason string) {
				if err := s.FinishAction(testContext(t), id, status, reason); err != nil {
					t.Fatal(err)
				}
			},
		}
	})
}
