// Package temporaltest starts the production shape of Temporal for tests and
// the load harness: the Temporal server (go.temporal.io/server, the version
// the pinned dev server embeds) with PostgreSQL persistence and PostgreSQL
// visibility, its schema set up by Temporal's own SQL tool, optionally with
// TLS or mTLS on the frontend and JWT authorization (API keys). It runs the
// binaries scripts/install-temporal-server.sh builds into .bin.
//
// Each server gets two new databases on the PostgreSQL server of
// TEST_DATABASE_URL (the local one by default), dropped when the test ends,
// and its own loopback ports. Besides the public frontend it runs Temporal's
// internal frontend, a plaintext frontend without authorization that
// Temporal's own system workers use; the package uses it to register the
// namespace and the search attributes, as an operator would with admin
// rights.
package temporaltest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/clusterhealth/healthd/internal/devserver"
	"github.com/clusterhealth/healthd/internal/store/storetest"
	"github.com/clusterhealth/healthd/internal/testkit"
	"github.com/clusterhealth/healthd/internal/testkit/proctest"
	"github.com/clusterhealth/healthd/workflows"
)

// Version is the Temporal server version the binaries must be built from.
const Version = "v1.29.1"

// EnvServerPath and EnvSQLToolPath override where the binaries are found
// (default: .bin/temporal-server and .bin/temporal-sql-tool in the working
// directory or a parent).
const (
	EnvServerPath  = "TEMPORAL_SERVER_PATH"
	EnvSQLToolPath = "TEMPORAL_SQL_TOOL_PATH"
)

// Options configure a server.
type Options struct {
	// TLS serves the frontend over TLS.
	TLS *TLS
	// JWKSURL, when set, turns authorization on: the default JWT claim mapper
	// reads the bearer token of each call (the SDK's API key), verified with
	// the keys served at this URL, and the default authorizer allows what
	// its "permissions" claim grants: "<namespace>:<read|write|worker|admin>",
	// or "temporal-system:admin" for every namespace.
	JWKSURL string
	// DynamicConfig adds server dynamic config values ("key": YAML value).
	DynamicConfig map[string]string
	// Output receives the server's log as well as its log file; nil: only
	// the file (quoted when the start fails).
	Output io.Writer
}

// TLS is the frontend's TLS configuration.
type TLS struct {
	// CertFile and KeyFile are the server certificate and its key.
	CertFile, KeyFile string
	// ClientCAFile, when set, requires every client to present a
	// certificate signed by a CA of this file (mTLS).
	ClientCAFile string
}

// Server is a running Temporal server.
type Server struct {
	// Address is the public frontend's host:port.
	Address string
	// AdminAddress is the internal frontend's host:port: plaintext and
	// without authorization.
	AdminAddress string
	// Namespace is the registered namespace ("default"), with the project's
	// search attributes.
	Namespace string

	cmd     *exec.Cmd
	exited  chan struct{}
	log     proctest.Log
	dir     string
	ports   map[string]int
	binary  string
	options Options
}

// find locates a binary of scripts/install-temporal-server.sh.
func find(env, name string) (string, error) {
	p, err := devserver.FindBin(env, name)
	if err != nil {
		return "", fmt.Errorf("%w (run scripts/install-temporal-server.sh)", err)
	}
	return p, nil
}

// Start starts a server and waits until its namespace serves with the
// project's search attributes; it stops the server and drops its databases
// when the test ends, and fails the test if anything is missing.
func Start(t testing.TB, o Options) *Server {
	testkit.Integration(t, "a Temporal server on PostgreSQL")
	t.Helper()
	s, err := start(t, o)
	if err != nil {
		t.Fatalf("temporaltest: %v", err)
	}
	return s
}

func start(t testing.TB, o Options) (*Server, error) {
	bin, err := find(EnvServerPath, "temporal-server")
	if err != nil {
		return nil, err
	}
	tool, err := find(EnvSQLToolPath, "temporal-sql-tool")
	if err != nil {
		return nil, err
	}
	admin := os.Getenv(storetest.EnvURL)
	if admin == "" {
		admin = storetest.DefaultURL
	}
	pg, err := url.Parse(admin)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", storetest.EnvURL, err)
	}
	name := fmt.Sprintf("temporal_test_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9)
	dbs := []string{name, name + "_visibility"}
	t.Cleanup(func() { dropDatabases(admin, dbs) })
	for i, schema := range []string{"postgresql/v12/temporal", "postgresql/v12/visibility"} {
		if err := setupSchema(tool, pg, dbs[i], schema); err != nil {
			return nil, err
		}
	}

	ports, err := proctest.Ports(12, 20000, 32000, nil) // membership ports are a smallint column
	if err != nil {
		return nil, err
	}
	s := &Server{
		Namespace: "default",
		dir:       t.TempDir(),
		binary:    bin,
		options:   o,
		ports: map[string]int{
			"frontend": ports[0], "frontend-membership": ports[1], "frontend-http": ports[2],
			"internal-frontend": ports[3], "internal-frontend-membership": ports[4], "internal-frontend-http": ports[5],
			"history": ports[6], "history-membership": ports[7],
			"matching": ports[8], "matching-membership": ports[9],
			"worker": ports[10], "worker-membership": ports[11],
		},
	}
	s.Address = "127.0.0.1:" + strconv.Itoa(s.ports["frontend"])
	s.AdminAddress = "127.0.0.1:" + strconv.Itoa(s.ports["internal-frontend"])
	if err := s.writeConfig(pg, dbs); err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = s.Stop() })
	if err := s.Restart(); err != nil {
		return nil, err
	}
	if err := s.setup(); err != nil {
		return nil, fmt.Errorf("%w\nserver log:\n%s", err, s.log.Tail(0))
	}
	return s, nil
}

// setupSchema creates a database and its schema with Temporal's SQL tool.
func setupSchema(tool string, pg *url.URL, db, schema string) error {
	port := pg.Port()
	if port == "" {
		port = "5432"
	}
	pw, _ := pg.User.Password()
	base := []string{"--plugin", "postgres12", "--ep", pg.Hostname(), "--port", port,
		"--user", pg.User.Username(), "--db", db}
	for _, args := range [][]string{
		{"create-database"},
		{"setup-schema", "-v", "0.0"},
		{"update-schema", "--schema-name", schema},
	} {
		cmd := exec.Command(tool, append(append([]string{}, base...), args...)...)
		cmd.Env = append(os.Environ(), "SQL_PASSWORD="+pw) // the tool reads it; never on the command line
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("temporal-sql-tool %s on %s: %v\n%s", args[0], db, err, proctest.Tail(string(out), 4000))
		}
	}
	return nil
}

// dropDatabases drops the server's databases, closing what still uses them.
func dropDatabases(admin string, dbs []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return
	}
	defer conn.Close(ctx)
	for _, db := range dbs {
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)")
	}
}

// writeConfig writes the server's configuration and dynamic config.
func (s *Server) writeConfig(pg *url.URL, dbs []string) error {
	port := pg.Port()
	if port == "" {
		port = "5432"
	}
	pw, _ := pg.User.Password()
	q := strconv.Quote
	var b strings.Builder
	fmt.Fprintf(&b, "log:\n  stdout: true\n  level: warn\n")
	fmt.Fprintf(&b, "persistence:\n  defaultStore: default\n  visibilityStore: visibility\n  numHistoryShards: 4\n  datastores:\n")
	for i, store := range []string{"default", "visibility"} {
		fmt.Fprintf(&b, "    %s:\n      sql:\n        pluginName: postgres12\n        databaseName: %s\n        connectAddr: %s\n        connectProtocol: tcp\n        user: %s\n        password: %s\n        maxConns: 20\n        maxIdleConns: 20\n        maxConnLifetime: 1h\n",
			store, q(dbs[i]), q(pg.Hostname()+":"+port), q(pg.User.Username()), q(pw))
	}
	fmt.Fprintf(&b, "global:\n  membership:\n    maxJoinDuration: 30s\n    broadcastAddress: 127.0.0.1\n")
	if t := s.options.TLS; t != nil {
		fmt.Fprintf(&b, "  tls:\n    frontend:\n      server:\n        certFile: %s\n        keyFile: %s\n", q(t.CertFile), q(t.KeyFile))
		if t.ClientCAFile != "" {
			fmt.Fprintf(&b, "        requireClientAuth: true\n        clientCaFiles: [%s]\n", q(t.ClientCAFile))
		}
	}
	if s.options.JWKSURL != "" {
		fmt.Fprintf(&b, "  authorization:\n    jwtKeyProvider:\n      keySourceURIs: [%s]\n      refreshInterval: 1m\n    permissionsClaimName: permissions\n    authorizer: default\n    claimMapper: default\n", q(s.options.JWKSURL))
	}
	p := s.ports
	fmt.Fprintf(&b, "services:\n")
	for _, svc := range []struct {
		name string
		http bool
	}{{"frontend", true}, {"internal-frontend", true}, {"history", false}, {"matching", false}, {"worker", false}} {
		fmt.Fprintf(&b, "  %s:\n    rpc:\n      grpcPort: %d\n      membershipPort: %d\n      bindOnIP: 127.0.0.1\n",
			svc.name, p[svc.name], p[svc.name+"-membership"])
		if svc.http {
			fmt.Fprintf(&b, "      httpPort: %d\n", p[svc.name+"-http"])
		}
	}
	fmt.Fprintf(&b, "clusterMetadata:\n  enableGlobalNamespace: false\n  failoverVersionIncrement: 10\n  masterClusterName: active\n  currentClusterName: active\n  clusterInformation:\n    active:\n      enabled: true\n      initialFailoverVersion: 1\n      rpcName: frontend\n      rpcAddress: %s\n      httpAddress: %s\n",
		q(s.Address), q("127.0.0.1:"+strconv.Itoa(p["frontend-http"])))
	fmt.Fprintf(&b, "dcRedirectionPolicy:\n  policy: noop\n")
	dyn := filepath.Join(s.dir, "dynamicconfig.yaml")
	fmt.Fprintf(&b, "dynamicConfigClient:\n  filepath: %s\n  pollInterval: 10s\n", q(dyn))

	var d strings.Builder
	values := map[string]string{
		// A new namespace and its search attributes serve within a second.
		"system.namespaceCacheRefreshInterval":           "1s",
		"system.forceSearchAttributesCacheRefreshOnRead": "true",
		"frontend.namespaceRPS.visibility":               "1000",
	}
	for k, v := range s.options.DynamicConfig {
		values[k] = v
	}
	for k, v := range values {
		fmt.Fprintf(&d, "%s:\n  - value: %s\n", k, v)
	}
	if err := os.MkdirAll(filepath.Join(s.dir, "config"), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(dyn, []byte(d.String()), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(s.dir, "config", "test.yaml"), []byte(b.String()), 0o600)
}

// Restart starts the server's process (again, after Stop, on the same
// databases and ports) and waits until its internal frontend answers.
func (s *Server) Restart() error {
	logPath := filepath.Join(s.dir, "server.log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	s.log = proctest.Log(logPath)
	offset := s.log.Size()
	args := []string{"--root", s.dir, "--config", "config", "--env", "test", "--allow-no-auth", "start"}
	for _, svc := range []string{"frontend", "internal-frontend", "history", "matching", "worker"} {
		args = append(args, "--service", svc)
	}
	cmd := exec.Command(s.binary, args...)
	var out io.Writer = f
	if s.options.Output != nil {
		out = io.MultiWriter(f, s.options.Output)
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", s.binary, err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); f.Close(); close(s.exited) }()

	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case <-s.exited:
			return fmt.Errorf("temporal-server exited at start:\n%s", s.log.Tail(offset))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := client.DialContext(ctx, client.Options{HostPort: s.AdminAddress, Namespace: "temporal-system", Logger: quiet{}})
		if err == nil {
			_, err = c.CheckHealth(ctx, nil)
			c.Close()
		}
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("temporal-server did not serve within 90s: %v\n%s", err, s.log.Tail(offset))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// setup registers the namespace and the project's search attributes through
// the internal frontend and waits until both serve.
func (s *Server) setup() error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{HostPort: s.AdminAddress, Namespace: s.Namespace, Logger: quiet{}})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace: s.Namespace, WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour)})
	var exists *serviceerror.NamespaceAlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("register namespace %s: %w", s.Namespace, err)
	}
	attrs := map[string]enumspb.IndexedValueType{}
	for k := range workflows.SearchAttributes().GetUntypedValues() {
		attrs[k.GetName()] = k.GetValueType()
	}
	for {
		_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
			Namespace: s.Namespace, SearchAttributes: attrs})
		var already *serviceerror.AlreadyExists
		if err == nil || errors.As(err, &already) {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("add search attributes: %w", err)
		}
		time.Sleep(200 * time.Millisecond) // the namespace is not in the cache yet
	}
	for {
		resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: s.Namespace})
		if err == nil && len(resp.GetCustomAttributes()) >= len(attrs) {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("search attributes not listed: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Stop stops the server with SIGTERM, and SIGKILL after 15 s.
func (s *Server) Stop() error {
	if s.cmd == nil {
		return nil
	}
	select {
	case <-s.exited:
		return nil
	default:
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.exited
	}
	return nil
}

// Log returns the server's log so far.
func (s *Server) Log() string { return s.log.Since(0) }

// PID is the server process's pid, for CPU accounting.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// quiet is an SDK logger that drops everything: readiness polls fail on
// purpose until the server serves.
type quiet struct{}

func (quiet) Debug(string, ...any) {}
func (quiet) Info(string, ...any)  {}
func (quiet) Warn(string, ...any)  {}
func (quiet) Error(string, ...any) {}
