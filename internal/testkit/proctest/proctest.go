// Package proctest holds what the tests' private servers (a RabbitMQ node in
// rabbittest, a PostgreSQL cluster in pgtest) share: free loopback ports,
// process liveness, pid files and the tail of a server's log.
package proctest

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Ports returns n distinct ports in [lo, hi) that are free on loopback now,
// none of them in skip.
func Ports(n, lo, hi int, skip func(port int) bool) ([]int, error) {
	var picked []int
	for tries := 0; len(picked) < n && tries < 100*n; tries++ {
		r, err := rand.Int(rand.Reader, big.NewInt(int64(hi-lo)))
		if err != nil {
			return nil, err
		}
		p := lo + int(r.Int64())
		if (skip != nil && skip(p)) || containsInt(picked, p) {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		_ = l.Close()
		picked = append(picked, p)
	}
	if len(picked) < n {
		return nil, fmt.Errorf("no %d free ports between %d and %d", n, lo, hi)
	}
	return picked, nil
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// Alive reports whether a process exists and is not a zombie.
func Alive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil || p.Signal(syscall.Signal(0)) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !errors.Is(err, os.ErrNotExist) || !procMounted()
	}
	// The state follows the parenthesised command name.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z'
	}
	return true
}

func procMounted() bool {
	_, err := os.Stat("/proc/self/stat")
	return err == nil
}

// WaitExit waits up to d for a process to exit and reports whether it did.
func WaitExit(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for Alive(pid) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
	return true
}

// ReadPID reads the pid on the first line of a pid file; 0 when there is
// none (yet).
func ReadPID(path string) int {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(raw), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// Log is a server's log file.
type Log string

// Size is the log's length now: the offset to read what comes after from.
func (l Log) Size() int64 {
	fi, err := os.Stat(string(l))
	if err != nil {
		return 0
	}
	return fi.Size()
}

// Since returns the log from offset on.
func (l Log) Since(offset int64) string {
	raw, err := os.ReadFile(string(l))
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	if offset > int64(len(raw)) {
		offset = 0
	}
	return string(raw[offset:])
}

// Tail returns the last lines of the log from offset on, within 6,000 bytes:
// what a failed start quotes.
func (l Log) Tail(offset int64) string { return Tail(l.Since(offset), 6000) }

// Tail keeps the end of s, from a line start, within n bytes.
func Tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return "...\n" + s
}
