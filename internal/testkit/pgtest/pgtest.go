// Package pgtest starts private PostgreSQL clusters for tests that stop,
// restart or crash a database server. The shared local server serves every
// test package at once and must never be stopped; a test that needs Postgres
// to go away and come back starts a cluster of its own with Start.
//
// A cluster is made by initdb in a temporary directory, with trust
// authentication and fsync off (a crash of the server loses no committed
// transaction; only one of the machine would), and runs through pg_ctl. Its server listens
// on loopback only, on a port chosen when it first starts and kept across
// restarts, so that clients reconnect to the same DSN, and on a Unix socket
// in the cluster's own directory. initdb refuses to run as root: when the
// tests run as root, the cluster belongs to the postgres system user and its
// programs run as that user through runuser. The server binaries are those of
// the newest version under /usr/lib/postgresql (Debian's layout), else initdb
// and pg_ctl on PATH; scripts/ensure-services.sh installs them. WithTLS
// starts a server that also accepts TLS connections.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"github.com/clusterhealth/healthd/internal/testkit"
	"github.com/clusterhealth/healthd/internal/testkit/proctest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// StartTimeout bounds the start of a server, from launching it to its
// accepting connections.
const StartTimeout = 30 * time.Second

// StopTimeout bounds a stop; a server still running after it is killed.
const StopTimeout = 30 * time.Second

// debianRoot holds one directory per installed server version, each with its
// binaries in bin/. A variable for the tests of the lookup.
var debianRoot = "/usr/lib/postgresql"

// systemUser owns the clusters of tests that run as root.
const systemUser = "postgres"

// Ports are picked below the kernel's ephemeral range (32768 and up on
// Linux), where outgoing connections cannot take a port while the server is
// down, and above the usual service ports.
const (
	portMin = 20000
	portMax = 30000
)

// Cluster is a private PostgreSQL cluster. It is not safe for concurrent use.
type Cluster struct {
	// DSN is the URL of the postgres database as the postgres superuser over
	// TCP on loopback, trusted without a password. It stays the same across
	// restarts.
	DSN string
	// Port is the server's TCP port on 127.0.0.1.
	Port int
	// Dir holds the cluster: the data directory (Dir/data), the server's log
	// (Dir/server.log) and its Unix socket.
	Dir string

	// TLS reports that the server also accepts TLS connections, with the
	// certificate given to WithTLS. DSN still disables TLS: set sslmode in a
	// copy of it to use it.
	TLS bool

	bin     string // the directory of initdb and pg_ctl
	owner   *user.User
	running bool
}

// Option changes how Start makes a cluster.
type Option func(*options)

type options struct {
	certFile, keyFile string
}

// WithTLS turns TLS on (ssl=on) with the server certificate and key in the
// PEM files certFile and keyFile, such as those of package tlstest. Start
// copies them into the cluster's directory, where the key belongs to the
// server's user with mode 0600, as the server requires. Plain connections
// are still accepted.
func WithTLS(certFile, keyFile string) Option {
	return func(o *options) { o.certFile, o.keyFile = certFile, keyFile }
}

// Start makes a new cluster, starts its server and waits until it accepts
// connections. The cluster is stopped and removed when the test ends. It
// fails the test when the PostgreSQL server binaries are not installed or the
// server does not start within StartTimeout.
//
// Options such as WithTLS change the cluster's configuration.
func Start(t testing.TB, opts ...Option) *Cluster {
	testkit.Integration(t, "a PostgreSQL server of its own")
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	bin, err := findBin()
	if err != nil {
		t.Fatalf("pgtest: %v; scripts/ensure-services.sh installs postgresql", err)
	}
	c := &Cluster{bin: bin}
	if os.Geteuid() == 0 {
		if c.owner, err = user.Lookup(systemUser); err != nil {
			t.Fatalf("pgtest: running as root, so the cluster must belong to the %s user: %v", systemUser, err)
		}
	}
	// Not t.TempDir: its parent is private to the test's user, and the
	// server may run as another.
	if c.Dir, err = os.MkdirTemp("", "pgtest-"); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pgtest: log of the server on port %d:\n%s", c.Port, c.log().Tail(0))
		}
		c.stop(t, "immediate")
		if err := os.RemoveAll(c.Dir); err != nil {
			t.Errorf("pgtest: remove %s: %v", c.Dir, err)
		}
	})
	if err := c.chown(c.Dir); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if o.certFile != "" || o.keyFile != "" {
		if err := c.installTLS(o.certFile, o.keyFile); err != nil {
			t.Fatalf("pgtest: TLS: %v", err)
		}
		c.TLS = true
	}
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	out, err := c.run(ctx, "initdb", "-D", c.dataDir(), "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions")
	if err != nil {
		t.Fatalf("pgtest: initdb: %v\n%s", err, out)
	}
	t.Logf("pgtest: initdb took %s", time.Since(began).Round(time.Millisecond))

	// The port is free when picked, but another process may take it before
	// the server listens on it: then pick another.
	const attempts = 3
	for attempt := 1; ; attempt++ {
		if c.Port, err = pickPort(); err != nil {
			t.Fatalf("pgtest: pick a port: %v", err)
		}
		c.DSN = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.Port)
		addrInUse, err := c.boot(t)
		if err == nil {
			return c
		}
		if !addrInUse || attempt == attempts {
			t.Fatalf("pgtest: %v", err)
		}
		t.Logf("pgtest: port %d was taken, trying another: %v", c.Port, err)
	}
}

// Running reports whether the server was started and not stopped since.
func (c *Cluster) Running() bool { return c.running }

// Start starts the server again after Stop or Crash, on the same port and with
// the same data, and waits until it accepts connections.
func (c *Cluster) Start(t testing.TB) {
	t.Helper()
	if c.running {
		t.Fatalf("pgtest: the server on port %d is already running", c.Port)
	}
	// The port can only be taken in the moment the server is down; wait for
	// it to be given back.
	deadline := time.Now().Add(StartTimeout)
	for {
		addrInUse, err := c.boot(t)
		if err == nil {
			return
		}
		if !addrInUse || time.Now().After(deadline) {
			t.Fatalf("pgtest: %v", err)
		}
		t.Logf("pgtest: port %d is taken, retrying: %v", c.Port, err)
		time.Sleep(500 * time.Millisecond)
	}
}

// Stop shuts the server down as an administrator's restart does (pg_ctl's
// fast mode): it ends every client session, checkpoints and exits. From then
// on connections to DSN are refused. It returns once the server has exited,
// and kills it if it does not within StopTimeout. Stopping a stopped server
// does nothing.
func (c *Cluster) Stop(t testing.TB) {
	t.Helper()
	c.stop(t, "fast")
}

// Crash stops the server the way a power loss would (pg_ctl's immediate
// mode): its processes exit at once without a checkpoint, and the next Start
// recovers from the write-ahead log.
func (c *Cluster) Crash(t testing.TB) {
	t.Helper()
	c.stop(t, "immediate")
}

// Restart stops the server (as Stop does) and starts it again on the same
// port with the same data.
func (c *Cluster) Restart(t testing.TB) {
	t.Helper()
	c.Stop(t)
	c.Start(t)
}

// stop runs pg_ctl stop in mode; when that fails it kills the postmaster.
func (c *Cluster) stop(t testing.TB, mode string) {
	t.Helper()
	if !c.running {
		return
	}
	c.running = false
	pid := c.pid()
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), StopTimeout)
	defer cancel()
	out, err := c.run(ctx, "pg_ctl", "-D", c.dataDir(), "-m", mode, "-w", "-t", strconv.Itoa(int(StopTimeout/time.Second)), "stop")
	if err == nil {
		t.Logf("pgtest: server on port %d stopped (%s) in %s", c.Port, mode, time.Since(began).Round(time.Millisecond))
		return
	}
	if pid == 0 {
		t.Errorf("pgtest: pg_ctl stop: %v: %s; no postmaster.pid, the server may still be running", err, out)
		return
	}
	t.Logf("pgtest: pg_ctl stop: %v: %s; killing postmaster %d", err, out, pid)
	_ = syscall.Kill(pid, syscall.SIGKILL)
	if !proctest.WaitExit(pid, 10*time.Second) {
		t.Errorf("pgtest: postmaster %d survived SIGKILL", pid)
	}
}

// boot starts the server and waits until it accepts connections. addrInUse
// reports that it failed because its port was taken.
func (c *Cluster) boot(t testing.TB) (addrInUse bool, err error) {
	t.Helper()
	began := time.Now()
	logStart := c.log().Size()
	opts := strings.Join([]string{
		"-c listen_addresses=127.0.0.1",
		"-p " + strconv.Itoa(c.Port),
		"-k " + c.Dir,
		// Nothing is flushed to disk, which only a machine's crash would
		// notice. Commits still write the log before they return: with
		// synchronous_commit off, a Crash would lose the last ones.
		"-c fsync=off",
		"-c full_page_writes=off",
	}, " ")
	if c.TLS {
		opts += " -c ssl=on -c ssl_cert_file=" + c.certFile() + " -c ssl_key_file=" + c.keyFile()
	}
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout+5*time.Second)
	defer cancel()
	// With -w pg_ctl returns once the server accepts connections, or fails
	// when it exits first.
	c.running = true // from here on stop has something to stop
	out, err := c.run(ctx, "pg_ctl", "-D", c.dataDir(), "-l", c.logFile(), "-o", opts,
		"-w", "-t", strconv.Itoa(int(StartTimeout/time.Second)), "start")
	if err != nil {
		log := c.log().Since(logStart)
		if c.pid() == 0 || !proctest.Alive(c.pid()) {
			c.running = false
		} else {
			c.stop(t, "immediate")
		}
		return strings.Contains(log, "Address already in use"),
			fmt.Errorf("pg_ctl start on port %d: %v: %s\ntail of the server's log:\n%s", c.Port, err, out, proctest.Tail(log, 4000))
	}
	t.Logf("pgtest: server up at 127.0.0.1:%d in %s", c.Port, time.Since(began).Round(time.Millisecond))
	return false, nil
}

// run runs one of the server's programs, as the cluster's owner, and returns
// its output.
func (c *Cluster) run(ctx context.Context, name string, args ...string) (string, error) {
	path := filepath.Join(c.bin, name)
	var cmd *exec.Cmd
	if c.owner != nil {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", c.owner.Username, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	// The programs look up their working directory, which must be readable
	// by the owner.
	cmd.Dir = c.Dir
	cmd.Env = c.env()
	// The server pg_ctl starts must not keep the output pipe open.
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// env is the caller's environment without the libpq and server settings,
// which would point the programs at another server.
func (c *Cluster) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "PG") || k == "LANG" || strings.HasPrefix(k, "LC_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LANG=C")
}

// chown gives path to the cluster's owner, when the server runs as another
// user.
func (c *Cluster) chown(path string) error {
	if c.owner == nil {
		return nil
	}
	uid, err := strconv.Atoi(c.owner.Uid)
	if err != nil {
		return fmt.Errorf("uid of %s: %w", c.owner.Username, err)
	}
	gid, err := strconv.Atoi(c.owner.Gid)
	if err != nil {
		return fmt.Errorf("gid of %s: %w", c.owner.Username, err)
	}
	return os.Chown(path, uid, gid)
}

// installTLS copies the server's certificate and key into the cluster's
// directory, owned by the cluster's owner; the key with mode 0600, as the
// server requires of a key its user owns.
func (c *Cluster) installTLS(certFile, keyFile string) error {
	if certFile == "" || keyFile == "" {
		return errors.New("WithTLS needs both a certificate and a key file")
	}
	for _, f := range []struct {
		from, to string
		mode     os.FileMode
	}{{certFile, c.certFile(), 0o644}, {keyFile, c.keyFile(), 0o600}} {
		data, err := os.ReadFile(f.from)
		if err != nil {
			return err
		}
		if err := os.WriteFile(f.to, data, f.mode); err != nil {
			return err
		}
		// WriteFile keeps the mode of a file that exists; umask may have
		// narrowed that of a new one.
		if err := os.Chmod(f.to, f.mode); err != nil {
			return err
		}
		if err := c.chown(f.to); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cluster) certFile() string { return filepath.Join(c.Dir, "server.crt") }
func (c *Cluster) keyFile() string  { return filepath.Join(c.Dir, "server.key") }

func (c *Cluster) dataDir() string { return filepath.Join(c.Dir, "data") }
func (c *Cluster) logFile() string { return filepath.Join(c.Dir, "server.log") }

// pid reads the postmaster's pid from its pid file; 0 when there is none.
func (c *Cluster) pid() int { return proctest.ReadPID(filepath.Join(c.dataDir(), "postmaster.pid")) }

func (c *Cluster) log() proctest.Log { return proctest.Log(c.logFile()) }

// findBin returns the directory holding initdb and pg_ctl.
func findBin() (string, error) {
	has := func(dir string) bool {
		for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
			if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
				return false
			}
		}
		return true
	}
	if entries, err := os.ReadDir(debianRoot); err == nil {
		var versions []int
		for _, e := range entries {
			if v, err := strconv.Atoi(e.Name()); err == nil && has(filepath.Join(debianRoot, e.Name(), "bin")) {
				versions = append(versions, v)
			}
		}
		if len(versions) > 0 {
			return filepath.Join(debianRoot, strconv.Itoa(slices.Max(versions)), "bin"), nil
		}
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil && has(filepath.Dir(p)) {
		return filepath.Dir(p), nil
	}
	return "", errors.New("PostgreSQL server binaries not found: no " + debianRoot + "/<version>/bin and no initdb, pg_ctl and postgres side by side on PATH")
}

// pickPort returns a port that is free on loopback now.
func pickPort() (int, error) {
	ports, err := proctest.Ports(1, portMin, portMax, nil)
	if err != nil {
		return 0, err
	}
	return ports[0], nil
}
