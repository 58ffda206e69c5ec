// Package devserver runs a local Temporal dev server (the temporal CLI's
// start-dev) for dev mode and end-to-end tests. Production workers never
// import it: they connect to TEMPORAL_ADDRESS.
package devserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"

	"github.com/clusterhealth/healthd/workflows"
)

// CLIVersion is the Temporal CLI version this project pins.
const CLIVersion = "1.5.1"

// Options configure a dev server.
type Options struct {
	// CLIPath is the temporal CLI binary; empty: FindCLI.
	CLIPath string
	// Address is host:port of the frontend; empty picks a free loopback port.
	Address string
	// UIPort serves the Web UI on loopback; 0 disables the UI.
	UIPort int
	// DBFile persists workflows across restarts; empty keeps them in memory.
	DBFile    string
	Namespace string
	// DynamicConfig sets server dynamic configuration values, such as
	// "history.transferProcessorMaxPollRPS": "1000"; values are YAML.
	DynamicConfig map[string]string
	// Output receives the server's own log; nil discards it.
	Output io.Writer
}

// Server is a running dev server.
type Server struct {
	srv     *testsuite.DevServer
	Address string
	UIURL   string
}

// FindCLI locates the temporal CLI: $TEMPORAL_CLI_PATH, then .bin/temporal in
// the working directory or any parent, then temporal on PATH.
func FindCLI() (string, error) {
	p, err := FindBin("TEMPORAL_CLI_PATH", "temporal")
	if err == nil || os.Getenv("TEMPORAL_CLI_PATH") != "" {
		return p, err
	}
	if p, err := exec.LookPath("temporal"); err == nil {
		return p, nil
	}
	return "", errors.New("temporal CLI not found: run scripts/install-temporal.sh or set TEMPORAL_CLI_PATH")
}

// FindBin locates a binary the project's scripts build into .bin: the path in
// the environment variable env, else .bin/name in the working directory or
// any parent.
func FindBin(env, name string) (string, error) {
	if p := os.Getenv(env); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s: %w", env, err)
		}
		return p, nil
	}
	dir, err := os.Getwd()
	for err == nil {
		p := filepath.Join(dir, ".bin", name)
		if _, serr := os.Stat(p); serr == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", fmt.Errorf("%s not found in .bin: set %s", name, env)
}

// FreePort returns a free TCP port on loopback.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start starts a dev server with the project's search attributes registered
// and waits until it serves.
func Start(ctx context.Context, o Options) (*Server, error) {
	if o.CLIPath == "" {
		p, err := FindCLI()
		if err != nil {
			return nil, err
		}
		o.CLIPath = p
	}
	if o.Address == "" {
		port, err := FreePort()
		if err != nil {
			return nil, fmt.Errorf("dev server: pick a port: %w", err)
		}
		o.Address = "127.0.0.1:" + strconv.Itoa(port)
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	out := o.Output
	if out == nil {
		out = io.Discard
	}
	opts := testsuite.DevServerOptions{
		ExistingPath:     o.CLIPath,
		ClientOptions:    &client.Options{HostPort: o.Address, Namespace: o.Namespace},
		DBFilename:       o.DBFile,
		LogLevel:         "error",
		SearchAttributes: workflows.SearchAttributes(),
		Stdout:           out,
		Stderr:           out,
	}
	for _, k := range slices.Sorted(maps.Keys(o.DynamicConfig)) {
		opts.ExtraArgs = append(opts.ExtraArgs, "--dynamic-config-value", k+"="+o.DynamicConfig[k])
	}
	ui := ""
	if o.UIPort > 0 {
		opts.EnableUI = true
		opts.UIPort = strconv.Itoa(o.UIPort)
		host, _, _ := net.SplitHostPort(o.Address)
		ui = fmt.Sprintf("http://%s:%d", host, o.UIPort)
	}
	srv, err := testsuite.StartDevServer(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("dev server: start %s: %w", o.CLIPath, err)
	}
	return &Server{srv: srv, Address: o.Address, UIURL: ui}, nil
}

// Client is a client of the server's namespace, closed by Stop.
func (s *Server) Client() client.Client { return s.srv.Client() }

// Stop stops the server.
func (s *Server) Stop() error { return s.srv.Stop() }
