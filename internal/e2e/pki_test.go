package e2e

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/pki"
	"github.com/linkmesh/linkmesh/internal/tlsconf"
)

// testPKI is a CA with a coordinator certificate and probe certificates in a
// directory, as `linkmesh certs` makes them.
type testPKI struct {
	dir    string
	ca     *pki.CA
	server tlsconf.Files
}

// newPKI creates a CA and a coordinator certificate for hosts in a new directory.
func newPKI(t *testing.T, hosts ...string) *testPKI {
	t.Helper()
	dir := t.TempDir()
	ca, pair, err := pki.NewCA("e2e CA", 90*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := pair.Write(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"), false); err != nil {
		t.Fatal(err)
	}
	p := &testPKI{dir: dir, ca: ca}
	srv, err := ca.IssueServer("coord", hosts, 90*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p.server = p.files("coord")
	if err := srv.Write(p.server.Cert, p.server.Key, false); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *testPKI) files(name string) tlsconf.Files {
	return tlsconf.Files{CA: filepath.Join(p.dir, "ca.crt"), Cert: filepath.Join(p.dir, name+".crt"), Key: filepath.Join(p.dir, name+".key")}
}

// probe issues a probe certificate and returns its files.
func (p *testPKI) probe(t *testing.T, name string) tlsconf.Files {
	t.Helper()
	pair, err := p.ca.IssueProbe(name, 90*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	f := p.files(name)
	if err := pair.Write(f.Cert, f.Key, false); err != nil {
		t.Fatal(err)
	}
	return f
}

// operator issues an operator certificate and returns its files.
func (p *testPKI) operator(t *testing.T, name string) tlsconf.Files {
	t.Helper()
	pair, err := p.ca.IssueOperator(name, 90*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	f := p.files(name)
	if err := pair.Write(f.Cert, f.Key, false); err != nil {
		t.Fatal(err)
	}
	return f
}

// logBuffer collects log lines for assertions; safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// lines returns the lines containing every one of words.
func (l *logBuffer) lines(words ...string) []string {
	var out []string
	for _, line := range strings.Split(l.String(), "\n") {
		ok := true
		for _, w := range words {
			if !strings.Contains(line, w) {
				ok = false
				break
			}
		}
		if ok && line != "" {
			out = append(out, line)
		}
	}
	return out
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelInfo}))
}
