// Package webtest writes web config files in the format of
// prometheus/exporter-toolkit (the --web.config.file of the coordinator and
// the probe) for tests: a server certificate for 127.0.0.1 from a fresh CA,
// and one basic-auth user with a bcrypt hash.
package webtest

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/pki"
	"golang.org/x/crypto/bcrypt"
)

// User and Password are the basic-auth credentials the config accepts.
const (
	User     = "prometheus"
	Password = "correct horse battery staple"
)

// Config is a web config file written into a test's temporary directory.
type Config struct {
	// File is the web config file to pass as --web.config.file.
	File string
	// Client trusts the CA that signed the server certificate (TLS only).
	Client *http.Client
}

// Write writes a web config with basic auth (User, Password) and, when
// withTLS, a server certificate for 127.0.0.1 and localhost.
func Write(t testing.TB, withTLS bool) Config {
	t.Helper()
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte(Password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	text := "basic_auth_users:\n  " + User + ": " + string(hash) + "\n"
	c := Config{File: filepath.Join(dir, "web.yml"), Client: &http.Client{Timeout: 10 * time.Second}}
	if withTLS {
		ca, caPair, err := pki.NewCA("webtest CA", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		srv, err := ca.IssueServer("webtest", []string{"127.0.0.1", "localhost"}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Write(filepath.Join(dir, "web.crt"), filepath.Join(dir, "web.key"), false); err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPair.CertPEM) {
			t.Fatal("webtest: CA certificate does not parse")
		}
		c.Client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
		// Relative paths resolve against the web config file's directory.
		text += "tls_server_config:\n  cert_file: web.crt\n  key_file: web.key\n"
	}
	if err := os.WriteFile(c.File, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return c
}
