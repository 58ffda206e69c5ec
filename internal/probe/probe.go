// Package probe makes Senlin-compatible poll-URL attempts (NODE_STATUS_POLL_URL):
// one HTTP GET per call, judged by status, body size and a healthy-response
// pattern. Retries and their spacing belong to the caller.
package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sync"
	"time"

	"github.com/clusterhealth/healthd/internal/health"
	"github.com/clusterhealth/healthd/internal/netguard"
)

// DefaultMaxBody is Senlin's max_response_size: the largest body, in bytes, a
// poll URL may return before the attempt counts as a connection error.
const DefaultMaxBody int64 = 524288

const (
	// drainLimit bounds how much of an unread body is discarded so that the
	// connection can be reused; larger remainders close the connection instead.
	drainLimit = 64 << 10
	// maxRedirects matches net/http's default policy.
	maxRedirects = 10
	// patternCacheSize bounds the compiled-pattern cache; patterns come from
	// registered policies, so a handful is normal and the bound only guards
	// against unbounded growth.
	patternCacheSize = 256
	userAgent        = "healthd-probe/1"
)

// Prober makes poll-URL attempts. It is safe for concurrent use and should be
// shared: it keeps one HTTP client that verifies TLS certificates and one that
// does not, so connections are reused across attempts.
type Prober struct {
	maxBody  int64
	verify   *http.Client
	insecure *http.Client
	// slots holds a token per attempt in flight: at most cap(slots), over
	// every sweep of the process.
	slots chan struct{}
	// perCluster bounds one cluster's attempts in flight (0: no bound), so
	// that a cluster whose nodes never answer cannot hold every slot.
	perCluster int
	shares     shares

	mu       sync.Mutex
	patterns map[string]compiled
}

type compiled struct {
	re  *regexp.Regexp
	err error
}

// DefaultInFlight is the default of PROBE_CONCURRENCY: the attempts one
// process makes at the same time, over all its sweeps.
const DefaultInFlight = 256

// Options shape a Prober.
type Options struct {
	// MaxBody: the largest body accepted; 0 (or less) means DefaultMaxBody.
	MaxBody int64
	// InFlight: at most this many attempts at a time, over every caller; 0
	// (or less) means DefaultInFlight. The limit holds over every caller,
	// so that many sweeps at once (a fleet whose rounds fall due together)
	// queue for a slot instead of opening a connection each: with the
	// limit, the connections kept alive suffice and are reused; without
	// it, a thousand clusters of a thousand nodes due in the same second
	// made tens of thousands of requests at once, and most of the worker's
	// CPU went into dialling and closing connections. A caller waits for a
	// slot before its attempt's timeout starts: waiting never makes a node
	// look unhealthy.
	InFlight int
	// PerCluster bounds the attempts of one cluster in flight, so that a
	// cluster whose nodes never answer holds at most this many slots of
	// InFlight and the other clusters' rounds stay on time; 0 (or less)
	// means no bound.
	PerCluster int
	// Policy is the address policy every connection is checked against,
	// after name resolution and for every redirect; the zero Policy refuses
	// loopback, link-local (instance metadata) and the like.
	Policy netguard.Policy
}

// New returns a Prober.
func New(o Options) *Prober {
	maxBody := o.MaxBody
	if maxBody <= 0 {
		maxBody = DefaultMaxBody
	}
	inFlight := o.InFlight
	if inFlight <= 0 {
		inFlight = DefaultInFlight
	}
	return &Prober{
		maxBody:    maxBody,
		verify:     newClient(false, inFlight, o.Policy),
		insecure:   newClient(true, inFlight, o.Policy),
		slots:      make(chan struct{}, inFlight),
		perCluster: max(o.PerCluster, 0),
		shares:     shares{m: map[string]*share{}},
		patterns:   make(map[string]compiled),
	}
}

// shares are the clusters' own slots, made on first use and dropped when a
// cluster has no attempt in flight.
type shares struct {
	mu sync.Mutex
	m  map[string]*share
}

type share struct {
	slots chan struct{}
	users int
}

// acquire takes one of the cluster's n slots, waiting until ctx ends; the
// release func gives it back.
func (s *shares) acquire(ctx context.Context, cluster string, n int) (func(), error) {
	s.mu.Lock()
	sh := s.m[cluster]
	if sh == nil {
		sh = &share{slots: make(chan struct{}, n)}
		s.m[cluster] = sh
	}
	sh.users++
	s.mu.Unlock()
	done := func() {
		s.mu.Lock()
		if sh.users--; sh.users == 0 {
			delete(s.m, cluster)
		}
		s.mu.Unlock()
	}
	select {
	case sh.slots <- struct{}{}:
		return func() { <-sh.slots; done() }, nil
	case <-ctx.Done():
		done()
		return nil, ctx.Err()
	}
}

func newClient(skipVerify bool, inFlight int, policy netguard.Policy) *http.Client {
	tr := &http.Transport{
		// No proxy: a proxy would make the connection the policy checks one
		// to the proxy, whatever the node's address.
		Proxy:             nil,
		DialContext:       policy.Dialer(net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2: true,
		MaxIdleConns:      max(256, inFlight),
		// As many as the attempts in flight: with fewer, the attempts to
		// nodes behind one host redial the connections it could not keep.
		MaxIdleConnsPerHost:   inFlight,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		// Only the poll_url_ssl_verify switch turns verification off.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: skipVerify},
	}
	return &http.Client{
		Transport: tr,
		// The per-attempt deadline comes from the request context.
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return fmt.Errorf("stopped after %d redirects", maxRedirects)
			}
			if s := req.URL.Scheme; s != "http" && s != "https" {
				return fmt.Errorf("redirect to unsupported scheme %q", s)
			}
			// A node's poll URL answers for the node: a redirect to
			// another host is not the node's answer, and would let a
			// node's owner aim the probe anywhere.
			if req.URL.Host != via[0].URL.Host {
				return &redirectError{to: req.URL.Host}
			}
			return nil
		},
	}
}

// redirectError is a redirect to another host, which the probe refuses.
type redirectError struct{ to string }

func (e *redirectError) Error() string {
	return fmt.Sprintf("redirect to another host (%s) refused", e.to)
}

// Probe makes one GET attempt against rawURL (already expanded with
// health.DetectionMode.URLFor) and judges it with the mode's options.
//
// The attempt ends at mode.RequestTimeout() or at ctx's deadline, whichever is
// earlier. A bad scheme, a transport error, a timeout, a non-2xx status or a
// body larger than the cap is a connection error, healthy unless
// poll_url_conn_error_as_unhealthy is set. Otherwise the body is searched for
// poll_url_healthy_response (an empty pattern matches any body). A canceled ctx
// also yields a connection error; callers that care check ctx.Err() themselves.
//
// clusterID is the cluster whose node it probes: its attempts take at most
// Options.PerCluster of the slots ("" for none in particular).
func (p *Prober) Probe(ctx context.Context, clusterID, rawURL string, mode health.DetectionMode) health.ProbeResult {
	u, err := url.Parse(rawURL)
	switch {
	case rawURL == "":
		return connError(mode, 0, "empty URL")
	case err != nil:
		return connError(mode, 0, fmt.Sprintf("invalid URL: %v", unwrapURLError(err)))
	case u.Scheme != "http" && u.Scheme != "https":
		return connError(mode, 0, fmt.Sprintf("unsupported URL scheme %q", u.Scheme))
	case u.Host == "":
		return connError(mode, 0, "URL has no host")
	}

	re, err := p.pattern(mode.PollURLHealthyResponse)
	if err != nil {
		return health.ProbeResult{ConfigError: true, Detail: "invalid poll_url_healthy_response: " + err.Error()}
	}

	// Slots first, the cluster's then the process's, so that the wait for
	// them is not counted in the attempt's timeout.
	if p.perCluster > 0 && clusterID != "" {
		release, err := p.shares.acquire(ctx, clusterID, p.perCluster)
		if err != nil {
			return connError(mode, 0, "no probe slot of the cluster's share before the round ended: "+err.Error())
		}
		defer release()
	}
	select {
	case p.slots <- struct{}{}:
		defer func() { <-p.slots }()
	case <-ctx.Done():
		return connError(mode, 0, "no probe slot before the round ended: "+ctx.Err().Error())
	}

	timeout := mode.RequestTimeout()
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	ctx, cancel := context.WithTimeout(ctx, mode.RequestTimeout())
	defer cancel()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return connError(mode, 0, fmt.Sprintf("invalid URL: %v", err))
	}
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept", "*/*")

	client := p.verify
	if !mode.PollURLSSLVerify {
		client = p.insecure
	}
	resp, err := client.Do(req)
	var redirect *redirectError
	switch {
	case netguard.IsRefused(err) || errors.As(err, &redirect):
		// Nothing is learnt of the node: unknown, never unhealthy, and no
		// answer of a refused address reaches the status.
		return health.ProbeResult{ConfigError: true, Detail: unwrapURLError(err).Error()}
	case err != nil:
		return connError(mode, 0, describe(ctx, err, timeout))
	}
	defer func() {
		_, _ = io.CopyN(io.Discard, resp.Body, drainLimit)
		_ = resp.Body.Close()
	}()

	status := resp.Status
	if status == "" {
		status = fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return connError(mode, resp.StatusCode, status)
	}
	if resp.ContentLength > p.maxBody {
		return connError(mode, resp.StatusCode, fmt.Sprintf("body exceeds %d bytes", p.maxBody))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, p.maxBody+1))
	if err != nil {
		return connError(mode, resp.StatusCode, "reading body: "+describe(ctx, err, timeout))
	}
	if int64(len(body)) > p.maxBody {
		return connError(mode, resp.StatusCode, fmt.Sprintf("body exceeds %d bytes", p.maxBody))
	}
	if re != nil && !re.Match(body) {
		return health.ProbeResult{StatusCode: resp.StatusCode, Detail: status + ", pattern not matched"}
	}
	return health.ProbeResult{Healthy: true, StatusCode: resp.StatusCode, Detail: status + ", pattern matched"}
}

// connError applies poll_url_conn_error_as_unhealthy to a failed attempt.
func connError(mode health.DetectionMode, code int, detail string) health.ProbeResult {
	return health.ProbeResult{
		Healthy:    !mode.PollURLConnErrorAsUnhealthy,
		ConnError:  true,
		StatusCode: code,
		Detail:     detail,
	}
}

// pattern returns the compiled healthy-response pattern, nil for the empty
// pattern (which matches every body).
func (p *Prober) pattern(expr string) (*regexp.Regexp, error) {
	if expr == "" {
		return nil, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.patterns[expr]; ok {
		return c.re, c.err
	}
	re, err := regexp.Compile(expr)
	if len(p.patterns) >= patternCacheSize {
		clear(p.patterns)
	}
	p.patterns[expr] = compiled{re: re, err: err}
	return re, err
}

// describe turns a request error into a few words: "timeout after 1s",
// "connect: connection refused", "tls: failed to verify certificate: ...".
func describe(ctx context.Context, err error, timeout time.Duration) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || isTimeout(err) {
		return "timeout after " + timeout.Round(time.Millisecond).String()
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return "canceled"
	}
	var sysErr *os.SyscallError
	if errors.As(err, &sysErr) {
		return sysErr.Error()
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return dnsErr.Error()
	}
	return unwrapURLError(err).Error()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// unwrapURLError drops the `Get "http://...":` prefix a *url.Error adds: the
// URL is logged next to the result anyway.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
