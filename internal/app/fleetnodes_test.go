package app_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/clusterhealth/healthd/internal/engine"
)

// The node server of BenchmarkFleet runs in a process of its own, the test
// binary run again for TestFleetNodesProcess alone, so that the CPU it spends
// is measured apart from the health worker's. The harness hands it the
// listening socket as file descriptor 3 and the names of the nodes that are
// down from the start in fleetNodesBrokenEnv, and keeps its stdin open: the
// process serves until stdin ends, which it does too when the harness dies.
// It serves
//
//	GET  /node/<name>  a node's poll URL: 503 while the node is down, else a
//	                   body that pollURLRegistration's pattern matches; counted
//	POST /hook         the recovery webhook: mends the node named in the request
//	POST /break/<name> takes a node down (until its recovery webhook mends it)
//	GET  /probes       the number of poll URL requests answered so far, and
//	                   of the connections accepted, space-separated
//
// It is plain net/http: a version without the router and with a lock-free set
// of down nodes cost the same, about 24 µs of CPU per request at 2,000
// requests a second (BenchmarkFleet, 100 × 200 nodes, 10 s rounds, two runs
// side by side), which is net/http's own cost at that rate.
const (
	fleetNodesProcessEnv = "FLEET_NODES_PROCESS"
	fleetNodesBrokenEnv  = "FLEET_NODES_BROKEN"
)

// TestFleetNodesProcess is the body of BenchmarkFleet's node server process;
// run any other way it skips.
func TestFleetNodesProcess(t *testing.T) {
	if os.Getenv(fleetNodesProcessEnv) != "1" {
		t.Skip("the node server process of BenchmarkFleet; the benchmark runs it")
	}
	l, err := net.FileListener(os.NewFile(3, "listener"))
	if err != nil {
		t.Fatalf("listener from file descriptor 3: %v", err)
	}
	var (
		mu     sync.Mutex
		broken = map[string]bool{}
		probes atomic.Int64
		conns  atomic.Int64
	)
	for name := range strings.SplitSeq(os.Getenv(fleetNodesBrokenEnv), ",") {
		if name != "" {
			broken[name] = true
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /node/{name}", func(w http.ResponseWriter, r *http.Request) {
		probes.Add(1)
		mu.Lock()
		down := broken[r.PathValue("name")]
		mu.Unlock()
		if down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "status: ok")
	})
	mux.HandleFunc("POST /hook", func(w http.ResponseWriter, r *http.Request) {
		var req engine.WebhookRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		delete(broken, req.NodeName)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /break/{name}", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		broken[r.PathValue("name")] = true
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /probes", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, probes.Load(), " ", conns.Load())
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				conns.Add(1)
			}
		}}
	go func() { _ = srv.Serve(l) }()
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = srv.Close()
}

// fleetNodes is the node server process of a fleet run.
type fleetNodes struct {
	// base is the URL its paths hang off, with no slash at the end.
	base  string
	cmd   *exec.Cmd
	stdin io.Closer
	out   *syncBuffer
	done  chan struct{}
}

// startFleetNodes runs the node server process, with the named nodes down
// until their recovery webhook is called, until the benchmark ends.
func startFleetNodes(tb testing.TB, broken []string) *fleetNodes {
	tb.Helper()
	self, err := os.Executable()
	if err != nil {
		tb.Fatalf("node server: the test binary: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("node server: listen: %v", err)
	}
	lf, err := l.(*net.TCPListener).File()
	_ = l.Close() // lf holds the socket on
	if err != nil {
		tb.Fatalf("node server: listener file: %v", err)
	}
	defer lf.Close()
	n := &fleetNodes{base: "http://" + l.Addr().String(), out: &syncBuffer{}, done: make(chan struct{})}
	n.cmd = exec.Command(self, "-test.run=^TestFleetNodesProcess$", "-test.count=1")
	n.cmd.Env = append(os.Environ(), fleetNodesProcessEnv+"=1", fleetNodesBrokenEnv+"="+strings.Join(broken, ","))
	n.cmd.ExtraFiles = []*os.File{lf}
	n.cmd.Stdout, n.cmd.Stderr = n.out, n.out
	stdin, err := n.cmd.StdinPipe()
	if err != nil {
		tb.Fatalf("node server: stdin: %v", err)
	}
	n.stdin = stdin
	if err := n.cmd.Start(); err != nil {
		tb.Fatalf("node server: start: %v", err)
	}
	go func() {
		_ = n.cmd.Wait()
		close(n.done)
	}()
	tb.Cleanup(func() {
		_ = n.stdin.Close()
		select {
		case <-n.done:
		case <-time.After(10 * time.Second):
			_ = n.cmd.Process.Signal(syscall.SIGKILL)
			<-n.done
		}
		if tb.Failed() {
			tb.Logf("node server (pid %d) output:\n%s", n.cmd.Process.Pid, n.out.String())
		}
	})
	// It answers once the test binary has started.
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, _, err := n.probes(); err == nil {
			return n
		}
		select {
		case <-n.done:
			tb.Fatalf("node server exited at start: %s\n%s", n.cmd.ProcessState, n.out.String())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("node server does not answer on %s after 60s:\n%s", n.base, n.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (n *fleetNodes) pid() int { return n.cmd.Process.Pid }

// pollURL is the base of the nodes' poll URLs for pollURLRegistration.
func (n *fleetNodes) pollURL() string { return n.base + "/node" }

// webhookURL is the recovery webhook that mends a down node.
func (n *fleetNodes) webhookURL() string { return n.base + "/hook" }

// probes is the number of poll URL requests the process has answered, and of
// the connections it accepted.
func (n *fleetNodes) probes() (probes, conns int64, err error) {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(n.base + "/probes")
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("node server /probes: %s", resp.Status)
	}
	if _, err := fmt.Sscan(string(b), &probes, &conns); err != nil {
		return 0, 0, fmt.Errorf("node server /probes: %q: %v", b, err)
	}
	return probes, conns, nil
}

// breakNode takes a node down now.
func (n *fleetNodes) breakNode(name string) error {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Post(n.base+"/break/"+name, "", nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("node server /break: %s", resp.Status)
	}
	return nil
}

// fleetPlainEnv holds the JSON of a plainLoop for TestFleetPlainLoopProcess.
const fleetPlainEnv = "FLEET_PLAIN_LOOP"

// plainLoop is the plain net/http loop that BenchmarkFleet measures beside
// the health worker, against the same node server and at the same rate: every
// interval, each cluster's nodes are fetched, at most Concurrency at a time,
// the clusters spread over the interval as the rounds' grid spreads them.
// It measures Duration after a Warmup that opens its connections.
type plainLoop struct {
	Base        string        `json:"base"`
	Clusters    []string      `json:"clusters"`
	Nodes       int           `json:"nodes"`
	Concurrency int           `json:"concurrency"`
	Interval    time.Duration `json:"interval"`
	Warmup      time.Duration `json:"warmup"`
	Duration    time.Duration `json:"duration"`
}

// plainLoopResult is what the plain loop process prints: its probes and the
// CPU time it spent on them, in the measured part.
type plainLoopResult struct {
	Probes int64 `json:"probes"`
	Failed int64 `json:"failed"`
	CPUus  int64 `json:"cpu_us"`
}

// TestFleetPlainLoopProcess is the body of BenchmarkFleet's plain loop
// process; run any other way it skips.
func TestFleetPlainLoopProcess(t *testing.T) {
	raw := os.Getenv(fleetPlainEnv)
	if raw == "" {
		t.Skip("the plain loop process of BenchmarkFleet; the benchmark runs it")
	}
	var p plainLoop
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		t.Fatalf("%s: %v", fleetPlainEnv, err)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024}}
	var probes, failed atomic.Int64
	get := func(url string) {
		resp, err := client.Get(url)
		if err != nil {
			failed.Add(1)
			return
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "ok") {
			failed.Add(1)
		}
		probes.Add(1)
	}
	start := time.Now()
	end := start.Add(p.Warmup + p.Duration)
	var wg sync.WaitGroup
	for i, cid := range p.Clusters {
		urls := make([]string, p.Nodes)
		for k, name := range nodeNames(cid, p.Nodes) {
			urls[k] = p.Base + "/node/" + name
		}
		offset := p.Interval * time.Duration(i) / time.Duration(len(p.Clusters))
		wg.Go(func() {
			for at := start.Add(offset); at.Before(end); at = at.Add(p.Interval) {
				time.Sleep(time.Until(at))
				slots := make(chan struct{}, max(p.Concurrency, 1))
				var round sync.WaitGroup
				for _, u := range urls {
					slots <- struct{}{}
					round.Go(func() {
						defer func() { <-slots }()
						get(u)
					})
				}
				round.Wait()
			}
		})
	}
	time.Sleep(p.Warmup)
	cpu0, n0, f0 := processCPU(), probes.Load(), failed.Load()
	time.Sleep(time.Until(end))
	cpu1, n1, f1 := processCPU(), probes.Load(), failed.Load()
	out, _ := json.Marshal(plainLoopResult{Probes: n1 - n0, Failed: f1 - f0, CPUus: (cpu1 - cpu0).Microseconds()})
	fmt.Printf("plain-loop-result %s\n", out)
	wg.Wait()
}

// runPlainLoop runs the plain loop process and returns its result.
func runPlainLoop(tb testing.TB, p plainLoop) plainLoopResult {
	tb.Helper()
	self, err := os.Executable()
	if err != nil {
		tb.Fatalf("plain loop: the test binary: %v", err)
	}
	raw, err := json.Marshal(p)
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(self, "-test.run=^TestFleetPlainLoopProcess$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), fleetPlainEnv+"="+string(raw))
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("plain loop: %v\n%s", err, out)
	}
	for line := range strings.Lines(string(out)) {
		if rest, ok := strings.CutPrefix(line, "plain-loop-result "); ok {
			var r plainLoopResult
			if err := json.Unmarshal([]byte(rest), &r); err != nil {
				tb.Fatalf("plain loop: %q: %v", rest, err)
			}
			return r
		}
	}
	tb.Fatalf("plain loop printed no result:\n%s", out)
	return plainLoopResult{}
}
