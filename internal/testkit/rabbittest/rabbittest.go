// Package rabbittest starts private RabbitMQ nodes for tests that stop or
// restart a broker. The shared local broker serves every test package at once
// and must never be restarted; a test that needs a broker to go away and come
// back starts a node of its own with Start.
//
// A node runs from RabbitMQ's own scripts (the Debian package installs them in
// /usr/lib/rabbitmq/bin; otherwise rabbitmq-server and rabbitmqctl are looked
// up on PATH) as the user running the tests, with its data, log, Erlang cookie
// and configuration in a temporary directory. It listens on loopback only, on
// ports chosen when it first starts and kept across restarts, so that clients
// can reconnect to the same URL. It registers with the local epmd, which it
// shares with the other nodes of the machine. WithTLS adds an amqps listener.
// scripts/ensure-services.sh installs rabbitmq-server.
package rabbittest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/clusterhealth/healthd/internal/testkit"
	"github.com/clusterhealth/healthd/internal/testkit/proctest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// StartTimeout bounds the start of a node, from launching it to the end of
// its boot.
const StartTimeout = 60 * time.Second

// StopTimeout bounds a graceful stop; a node still running after it is killed.
const StopTimeout = 60 * time.Second

// debianScripts is where the Debian package installs RabbitMQ's scripts. The
// wrappers in /usr/sbin switch to the rabbitmq user, which would lose the
// node's environment; these run as the caller.
const debianScripts = "/usr/lib/rabbitmq/bin"

// Ports are picked below the kernel's ephemeral range (32768 and up on
// Linux), where outgoing connections and the short-lived distribution ports
// of rabbitmqctl (a node's distribution port + 10000 and up) do not take
// them, and away from the standard node's distribution port 25672.
const (
	portMin = 20000
	portMax = 30000
)

// Broker is a private RabbitMQ node. It is not safe for concurrent use.
type Broker struct {
	// URL is the node's AMQP URL, as guest/guest on loopback. It stays the
	// same across restarts.
	URL string
	// Node is the Erlang node name, unique to this broker.
	Node string
	// Dir holds the node's data, logs and configuration; durable queues and
	// persistent messages in it survive restarts.
	Dir string
	// TLSURL is the node's amqps URL, as guest/guest on loopback, when it
	// was started WithTLS; empty otherwise. It stays the same across
	// restarts.
	TLSURL string
	// TLSPort is the port of TLSURL, 0 without TLS.
	TLSPort int

	server, ctl    string // the rabbitmq-server and rabbitmqctl scripts
	port, distPort int
	tls            *tlsFiles
	running        bool
}

// Option changes how Start configures a node.
type Option func(*options)

type options struct {
	tls *tlsFiles
}

// tlsFiles are the PEM files of an amqps listener.
type tlsFiles struct {
	ca, cert, key string
}

// WithTLS opens an amqps listener on loopback (TLSURL) besides the plain one,
// with the server certificate and key in the PEM files certFile and keyFile
// and the CA certificate caFile (such as those of package tlstest). Clients
// are not asked for certificates.
func WithTLS(caFile, certFile, keyFile string) Option {
	return func(o *options) { o.tls = &tlsFiles{ca: caFile, cert: certFile, key: keyFile} }
}

// Start starts a private node and waits until it accepts connections. The
// node is stopped when the test ends. It fails the test when RabbitMQ is not
// installed or the node does not start within StartTimeout. Options such as
// WithTLS change the node's configuration.
func Start(t testing.TB, opts ...Option) *Broker {
	testkit.Integration(t, "a RabbitMQ broker of its own")
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	server, ctl, err := findScripts()
	if err != nil {
		t.Fatalf("rabbittest: %v; scripts/ensure-services.sh installs rabbitmq-server", err)
	}
	b := &Broker{
		Node:   "healthd-test-" + randomHex(t) + "@localhost",
		Dir:    t.TempDir(),
		server: server,
		ctl:    ctl,
		tls:    o.tls,
	}
	files := map[string]string{
		// No plugins: the management plugin alone would double the boot time.
		"enabled_plugins": "[].\n",
		// Replaces the system's rabbitmq-env.conf, which names the standard node.
		"rabbitmq-env.conf": "# Environment of a private test node; see package rabbittest.\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(b.Dir, name), []byte(content), 0o644); err != nil {
			t.Fatalf("rabbittest: %v", err)
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("rabbittest: log of node %s:\n%s", b.Node, b.log().Tail(0))
		}
		b.Stop(t)
	})

	// The ports are free when picked, but another process may take one before
	// the node listens on it: then pick others.
	const attempts = 3
	for attempt := 1; ; attempt++ {
		var tlsPort int
		if b.port, b.distPort, tlsPort, err = pickPorts(); err != nil {
			t.Fatalf("rabbittest: pick ports: %v", err)
		}
		b.URL = fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", b.port)
		if b.tls != nil {
			b.TLSPort = tlsPort
			b.TLSURL = fmt.Sprintf("amqps://guest:guest@127.0.0.1:%d/", b.TLSPort)
			if err := b.writeTLSConfig(); err != nil {
				t.Fatalf("rabbittest: %v", err)
			}
		}
		addrInUse, err := b.boot(t)
		if err == nil {
			return b
		}
		if !addrInUse || attempt == attempts {
			t.Fatalf("rabbittest: %v", err)
		}
		t.Logf("rabbittest: port %d, %d or %d was taken, trying others: %v", b.port, b.distPort, tlsPort, err)
	}
}

// writeTLSConfig writes the node's rabbitmq.conf with its amqps listener.
func (b *Broker) writeTLSConfig() error {
	conf := strings.Join([]string{
		"# Configuration of a private test node; see package rabbittest.",
		"listeners.ssl.default = 127.0.0.1:" + strconv.Itoa(b.TLSPort),
		"ssl_options.cacertfile = " + b.tls.ca,
		"ssl_options.certfile = " + b.tls.cert,
		"ssl_options.keyfile = " + b.tls.key,
		"ssl_options.verify = verify_none",
		"ssl_options.fail_if_no_peer_cert = false",
		"",
	}, "\n")
	return os.WriteFile(filepath.Join(b.Dir, "rabbitmq.conf"), []byte(conf), 0o644)
}

// Start starts the node again after Stop, on the same ports and with the same
// data, and waits until it accepts connections.
func (b *Broker) Start(t testing.TB) {
	t.Helper()
	if b.running {
		t.Fatalf("rabbittest: node %s is already running", b.Node)
	}
	// A port can only be taken in the moment the node is down; wait for it
	// to be given back.
	deadline := time.Now().Add(StartTimeout)
	for {
		addrInUse, err := b.boot(t)
		if err == nil {
			return
		}
		if !addrInUse || time.Now().After(deadline) {
			t.Fatalf("rabbittest: %v", err)
		}
		t.Logf("rabbittest: port %d or %d is taken, retrying: %v", b.port, b.distPort, err)
		time.Sleep(time.Second)
	}
}

// Stop stops the node gracefully, as a broker shutting down for an upgrade
// does: it closes its client connections and keeps durable queues and
// persistent messages. It returns once the node's process has exited and
// kills it if it does not stop within StopTimeout. Stopping a stopped node
// does nothing.
func (b *Broker) Stop(t testing.TB) {
	t.Helper()
	if !b.running {
		return
	}
	b.running = false
	pid := b.pid()
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), StopTimeout)
	defer cancel()
	args := []string{"-q", "-n", b.Node, "stop"}
	if pid != 0 {
		// With the pid file, rabbitmqctl stop waits for the process to exit.
		args = append(args, b.pidFile())
	}
	out, err := b.run(ctx, b.ctl, args...)
	if err == nil && (pid == 0 || proctest.WaitExit(pid, 10*time.Second)) {
		t.Logf("rabbittest: node %s stopped in %s", b.Node, time.Since(began).Round(time.Millisecond))
		return
	}
	if pid == 0 {
		t.Errorf("rabbittest: stop node %s: %v: %s; no pid file, the node may still be running", b.Node, err, out)
		return
	}
	t.Logf("rabbittest: stop node %s: %v: %s; killing process %d", b.Node, err, out, pid)
	if p, ferr := os.FindProcess(pid); ferr == nil {
		_ = p.Kill()
	}
	if !proctest.WaitExit(pid, 10*time.Second) {
		t.Errorf("rabbittest: node %s (process %d) survived SIGKILL", b.Node, pid)
	}
}

// Restart stops the node gracefully and starts it again on the same ports
// with the same data.
func (b *Broker) Restart(t testing.TB) {
	t.Helper()
	b.Stop(t)
	b.Start(t)
}

// Ctl runs rabbitmqctl against the node, quietly, and returns its output. It
// fails the test when rabbitmqctl fails, so call it from the test's goroutine.
func (b *Broker) Ctl(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := b.run(ctx, b.ctl, append([]string{"-q", "-n", b.Node}, args...)...)
	if err != nil {
		t.Fatalf("rabbittest: rabbitmqctl %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return out
}

// boot launches the node and waits for its boot to finish. addrInUse reports
// that it failed because one of its ports was taken.
func (b *Broker) boot(t testing.TB) (addrInUse bool, err error) {
	t.Helper()
	began := time.Now()
	deadline := began.Add(StartTimeout)
	logStart := b.log().Size()
	// A pid file or crash dump left by the last run would be taken for this
	// one's.
	_ = os.Remove(b.pidFile())
	_ = os.Remove(filepath.Join(b.logDir(), "erl_crash.dump"))

	out, err := os.Create(filepath.Join(b.Dir, "server.out"))
	if err != nil {
		return false, err
	}
	defer out.Close()
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	// With -detached the script returns at once. Its output goes to a file,
	// not a pipe, which the detached node would hold open.
	cmd := exec.CommandContext(ctx, b.server, "-detached")
	cmd.Env = b.env()
	cmd.Dir = b.Dir
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return false, b.bootError(logStart, "rabbitmq-server -detached: %v", err)
	}
	b.running = true // from here on Stop has something to stop

	for {
		// await_startup fails at once while the node is not registered with
		// epmd yet, and then waits for the boot to finish.
		callCtx, callCancel := context.WithTimeout(ctx, 20*time.Second)
		_, err := b.run(callCtx, b.ctl, "-q", "-n", b.Node, "await_startup")
		callCancel()
		if err == nil {
			t.Logf("rabbittest: node %s up at %s in %s", b.Node, b.URL, time.Since(began).Round(time.Millisecond))
			return false, nil
		}
		if pid := b.pid(); pid != 0 && !proctest.Alive(pid) {
			b.running = false
			log := b.log().Since(logStart)
			return strings.Contains(log, "eaddrinuse"), b.bootError(logStart, "node %s exited while starting", b.Node)
		}
		if time.Now().After(deadline) {
			b.Stop(t)
			return false, b.bootError(logStart, "node %s did not start within %s: rabbitmqctl await_startup: %v", b.Node, StartTimeout, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// bootError describes a failed start with the end of the node's log.
func (b *Broker) bootError(logStart int64, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if out, err := os.ReadFile(filepath.Join(b.Dir, "server.out")); err == nil && len(bytes.TrimSpace(out)) > 0 {
		msg += "\nrabbitmq-server output:\n" + proctest.Tail(string(out), 2000)
	}
	if dump, err := os.ReadFile(filepath.Join(b.logDir(), "erl_crash.dump")); err == nil {
		for line := range strings.SplitSeq(string(dump[:min(len(dump), 4096)]), "\n") {
			if strings.HasPrefix(line, "Slogan:") {
				msg += "\nErlang crash dump: " + line
			}
		}
	}
	return fmt.Errorf("%s\ntail of the node's log (%s):\n%s", msg, b.logFile(), b.log().Tail(logStart))
}

// env is the environment of the node's scripts: the caller's, without its
// RabbitMQ and Erlang settings, and the node's own. The scripts and
// rabbitmqctl share HOME, hence the Erlang cookie.
func (b *Broker) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "HOME" || strings.HasPrefix(k, "RABBITMQ_") || strings.HasPrefix(k, "ERL_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"HOME="+b.Dir,
		"RABBITMQ_NODENAME="+b.Node,
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		"RABBITMQ_NODE_PORT="+strconv.Itoa(b.port),
		"RABBITMQ_DIST_PORT="+strconv.Itoa(b.distPort),
		"RABBITMQ_MNESIA_BASE="+filepath.Join(b.Dir, "mnesia"),
		"RABBITMQ_LOG_BASE="+b.logDir(),
		"RABBITMQ_PID_FILE="+b.pidFile(),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(b.Dir, "enabled_plugins"),
		// There is a rabbitmq.conf there only WithTLS; otherwise RabbitMQ's
		// defaults apply.
		"RABBITMQ_CONFIG_FILE="+filepath.Join(b.Dir, "rabbitmq"),
		"RABBITMQ_CONF_ENV_FILE="+filepath.Join(b.Dir, "rabbitmq-env.conf"),
		// Distribution on loopback only, for the node and rabbitmqctl alike;
		// an epmd the node has to start listens on loopback only too.
		"ERL_FLAGS=-kernel inet_dist_use_interface {127,0,0,1}",
		"ERL_EPMD_ADDRESS=127.0.0.1",
	)
}

// run runs a script with the node's environment and returns its output.
func (b *Broker) run(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = b.env()
	cmd.Dir = b.Dir
	// An epmd started on the way must not keep the output pipe open.
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func (b *Broker) pidFile() string { return filepath.Join(b.Dir, "pid") }
func (b *Broker) logDir() string  { return filepath.Join(b.Dir, "log") }
func (b *Broker) logFile() string { return filepath.Join(b.logDir(), b.Node+".log") }

// pid reads the pid file; 0 when there is none (yet).
func (b *Broker) pid() int { return proctest.ReadPID(b.pidFile()) }

func (b *Broker) log() proctest.Log { return proctest.Log(b.logFile()) }

// findScripts locates rabbitmq-server and the rabbitmqctl beside it.
func findScripts() (server, ctl string, err error) {
	server = filepath.Join(debianScripts, "rabbitmq-server")
	if _, err := os.Stat(server); err != nil {
		if server, err = exec.LookPath("rabbitmq-server"); err != nil {
			return "", "", fmt.Errorf("RabbitMQ is not installed: neither %s nor rabbitmq-server on PATH", filepath.Join(debianScripts, "rabbitmq-server"))
		}
	}
	ctl = filepath.Join(filepath.Dir(server), "rabbitmqctl")
	if _, err := os.Stat(ctl); err != nil {
		if ctl, err = exec.LookPath("rabbitmqctl"); err != nil {
			return "", "", fmt.Errorf("found %s but no rabbitmqctl beside it or on PATH", server)
		}
	}
	return server, ctl, nil
}

// pickPorts returns three distinct ports that are free on loopback now, away
// from the Erlang distribution ports of the machine's own broker: AMQP's,
// the distribution's and amqps', which only WithTLS uses.
func pickPorts() (port, distPort, tlsPort int, err error) {
	ports, err := proctest.Ports(3, portMin, portMax, func(p int) bool { return p >= 25672 && p <= 25682 })
	if err != nil {
		return 0, 0, 0, err
	}
	return ports[0], ports[1], ports[2], nil
}

func randomHex(t testing.TB) string {
	t.Helper()
	buf := make([]byte, 4)
	if _, err := rand.Read(buf); err != nil {
		t.Fatalf("rabbittest: random: %v", err)
	}
	return hex.EncodeToString(buf)
}

// LocalCtl runs `rabbitmqctl -q args...` against the machine's own broker,
// the service the other tests share, and returns its output. It refuses when
// amqpURL, the broker the tests use, is not on this machine, and never
// touches a node started by Start (use Broker.Ctl for those).
func LocalCtl(amqpURL string, args ...string) (string, error) {
	u, err := url.Parse(amqpURL)
	if err != nil {
		return "", errors.New("rabbittest: unparsable AMQP URL")
	}
	if h := u.Hostname(); h != "127.0.0.1" && h != "localhost" && h != "::1" {
		return "", fmt.Errorf("rabbittest: broker %s is not local", h)
	}
	path, err := exec.LookPath("rabbitmqctl")
	if err != nil {
		return "", fmt.Errorf("rabbittest: %w (scripts/ensure-services.sh installs rabbitmq-server)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, append([]string{"-q"}, args...)...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("rabbitmqctl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}
