package pgtest_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/clusterhealth/healthd/internal/testkit/pgtest"
)

// connect opens a connection to the cluster, bounded by a few seconds.
func connect(t *testing.T, c *pgtest.Cluster) (*pgx.Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return pgx.Connect(ctx, c.DSN)
}

// count returns the number of rows of the table t.
func count(t *testing.T, c *pgtest.Cluster) int {
	t.Helper()
	conn, err := connect(t, c)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM t").Scan(&n); err != nil {
		t.Fatalf("count: %v", err)
	}
	return n
}

// TestClusterStopsAndStartsWithItsData writes through the DSN, stops the
// server (connections are then refused, and a session open across the stop
// is ended), starts it again on the same DSN, crashes it and starts it once
// more: the committed rows are there each time.
func TestClusterStopsAndStartsWithItsData(t *testing.T) {
	ctx := context.Background()
	c := pgtest.Start(t)
	if !c.Running() {
		t.Fatal("Running after Start: got false")
	}
	dsn := c.DSN
	conn, err := connect(t, c)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}

	began := time.Now()
	c.Stop(t)
	t.Logf("stopped in %s", time.Since(began).Round(time.Millisecond))
	if c.Running() {
		t.Error("Running after Stop: got true")
	}
	if _, err := conn.Exec(ctx, "SELECT 1"); err == nil {
		t.Error("a session open across Stop: got an answer, want its connection ended")
	}
	if _, err := connect(t, c); err == nil {
		t.Fatal("connect while stopped: got a connection, want it refused")
	} else if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("connect while stopped: got %v, want connection refused", err)
	}
	c.Stop(t) // stopping a stopped server does nothing

	c.Start(t)
	if c.DSN != dsn {
		t.Errorf("DSN after Start: got %s, want %s", c.DSN, dsn)
	}
	if n := count(t, c); n != 1 {
		t.Errorf("rows after Stop and Start: got %d, want 1", n)
	}

	conn2, err := connect(t, c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn2.Exec(ctx, "INSERT INTO t VALUES (2)"); err != nil {
		t.Fatal(err)
	}
	_ = conn2.Close(ctx)
	c.Crash(t)
	if _, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port)), time.Second); err == nil {
		t.Error("dial while crashed: got a connection, want it refused")
	}
	c.Restart(t) // Stop on a stopped server, then Start
	if n := count(t, c); n != 2 {
		t.Errorf("rows after Crash and Restart: got %d, want 2", n)
	}
	c.Restart(t)
	if n := count(t, c); n != 2 {
		t.Errorf("rows after Restart: got %d, want 2", n)
	}
}

// Two clusters of one test are independent: each its own port and data.
func TestClustersAreIndependent(t *testing.T) {
	a, b := pgtest.Start(t), pgtest.Start(t)
	if a.Port == b.Port || a.Dir == b.Dir {
		t.Fatalf("two clusters share port %d/%d or directory %s/%s", a.Port, b.Port, a.Dir, b.Dir)
	}
	a.Stop(t)
	if _, err := connect(t, b); err != nil {
		t.Errorf("connect to the cluster still running: %v", err)
	}
}
