// Package netguard is the address policy of every outbound HTTP call to an
// address that a policy, a tenant or an engine row gives healthd: poll URLs,
// status URLs and recover webhooks. It is checked on the resolved address
// of every connection, at dial time (Policy.Control on a net.Dialer), so a
// redirect, a DNS name that resolves somewhere else the next time, or an
// IPv4 address written as IPv6 cannot go around it.
//
// By default it refuses loopback, link-local (where clouds serve their
// instance metadata, 169.254.169.254), the unspecified address, multicast
// and the known metadata addresses; the deployment lifts a refusal with
// allowed CIDRs and adds its own with denied ones (a denied range wins over
// an allowed one).
package netguard

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/clusterhealth/healthd/internal/config"
)

// The settings that shape the policy, named in its errors.
const (
	AllowSetting = "PROBE_ALLOW_CIDRS"
	DenySetting  = "PROBE_DENY_CIDRS"
)

// builtin are the ranges refused unless allowed.
var builtin = []struct {
	prefix netip.Prefix
	what   string
}{
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local (instance metadata lives at 169.254.169.254)"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified"},
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
	{netip.MustParsePrefix("fd00:ec2::254/128"), "instance metadata"},
	{netip.MustParsePrefix("100.100.100.200/32"), "instance metadata"},
}

// Policy decides which addresses outbound calls may reach. The zero Policy
// is the default: the built-in refusals only.
type Policy struct {
	allow, deny []netip.Prefix
}

// Parse builds a policy from the two settings: comma-separated CIDRs or
// single addresses (blank means none). The error names the setting and
// the entry.
func Parse(allow, deny string) (Policy, error) {
	var p Policy
	var err error
	if p.allow, err = prefixes(AllowSetting, allow); err != nil {
		return Policy{}, err
	}
	if p.deny, err = prefixes(DenySetting, deny); err != nil {
		return Policy{}, err
	}
	return p, nil
}

// MustParse is Parse for fixed values (tests, dev mode).
func MustParse(allow, deny string) Policy {
	p, err := Parse(allow, deny)
	if err != nil {
		panic(err)
	}
	return p
}

// Loopback allows loopback addresses besides the default: a deployment
// whose nodes, engine and webhooks all run on one machine (dev mode, tests).
var Loopback = MustParse("127.0.0.0/8,::1", "")

func prefixes(setting, list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("%s: %q is neither a CIDR (10.0.0.0/8) nor an address", setting, f)
			}
			a = a.Unmap()
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %q is neither a CIDR (10.0.0.0/8) nor an address", setting, f)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(0, p.Bits()-96))
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// RefusedError is a connection the policy refused.
type RefusedError struct {
	Addr netip.Addr
	// Why says which rule refused it.
	Why string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("address %s refused by the address policy: %s", e.Addr, e.Why)
}

// IsRefused reports whether err is, or wraps, a refusal of the policy.
func IsRefused(err error) bool {
	var r *RefusedError
	return errors.As(err, &r)
}

// Check says whether a may be reached: nil, or a *RefusedError.
func (p Policy) Check(a netip.Addr) error {
	a = a.Unmap()
	for _, d := range p.deny {
		if d.Contains(a) {
			return &RefusedError{Addr: a, Why: "in " + DenySetting + " " + d.String()}
		}
	}
	for _, al := range p.allow {
		if al.Contains(a) {
			return nil
		}
	}
	for _, b := range builtin {
		if b.prefix.Contains(a) {
			return &RefusedError{Addr: a, Why: b.what + ", refused unless " + AllowSetting + " allows it"}
		}
	}
	return nil
}

// Control is a net.Dialer Control function: it refuses a connection to an
// address the policy refuses, after name resolution, for every dial (the
// first request's, a redirect's, a retry's).
func (p Policy) Control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("address policy: cannot read the address %q: %w", address, err)
	}
	return p.Check(ap.Addr())
}

// Dialer returns a dialer that applies the policy; base's timeouts are
// kept.
func (p Policy) Dialer(base net.Dialer) *net.Dialer {
	base.Control = p.Control
	return &base
}

// Config is the policy's settings section, read by the processes that make
// such calls (the health worker's probes, the engine's status reads and
// webhooks).
type Config struct {
	// Allow and Deny are comma-separated CIDRs or addresses.
	Allow, Deny string
}

// Settings binds PROBE_ALLOW_CIDRS and PROBE_DENY_CIDRS to c.
func (c *Config) Settings() []config.Setting {
	return []config.Setting{
		config.String(AllowSetting, "CIDRs or addresses that poll URLs, status URLs and webhooks may reach although refused by default (loopback, link-local, metadata), comma-separated", &c.Allow, rule(AllowSetting)),
		config.String(DenySetting, "CIDRs or addresses that poll URLs, status URLs and webhooks may never reach, comma-separated (wins over "+AllowSetting+")", &c.Deny, rule(DenySetting)),
	}
}

func rule(setting string) config.Rule {
	return func(s string) string {
		if _, err := prefixes(setting, s); err != nil {
			return "must be comma-separated CIDRs (10.0.0.0/8) or addresses"
		}
		return ""
	}
}

// Policy is the policy the settings say (they were checked when loaded).
func (c Config) Policy() Policy {
	p, _ := Parse(c.Allow, c.Deny)
	return p
}

// Client is an HTTP client for calls to configured endpoints (status URLs,
// webhooks): the policy on every connection, no proxy, and no redirect
// followed (a 3xx is the answer, and not a success), so that a signed
// request is never re-sent to another host.
func (p Policy) Client(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           p.Dialer(net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          100,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
