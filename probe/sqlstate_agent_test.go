package probe

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/waitfor"
	"google.golang.org/grpc/credentials/insecure"
)

// TestSQLStateUnreachable: a probe given --sql-dsn for a SQL Server it cannot
// reach (a closed loopback port) keeps probing, and its /metrics says
// linkmesh_sql_up 0 — not silence, and no link series at old or zero values.
func TestSQLStateUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dsn := "sqlserver://linkmesh:x@127.0.0.1:" + strconv.Itoa(port) + "?database=master&dial+timeout=1&connection+timeout=2"
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := New(Config{Name: "sql1", Site: "sql", Coordinators: []string{"127.0.0.1:1"}, Creds: insecure.NewCredentials(),
		BufferSize: 10, Insecure: true, Metrics: "127.0.0.1:0", SQLDSN: dsn, SQLInterval: 5 * time.Second}, discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	var body string
	waitfor.Cond(t, 20*time.Second, "linkmesh_sql_up on the probe's /metrics", func() bool {
		resp, err := http.Get("http://" + a.MetricsAddr().String() + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return strings.Contains(body, "linkmesh_sql_up{")
	})
	if !strings.Contains(body, `linkmesh_sql_up{probe="sql1"} 0`) {
		t.Errorf("want linkmesh_sql_up 0:\n%s", grep(body, "linkmesh_sql_"))
	}
	for _, absent := range []string{"linkmesh_sql_replica_connected{", "linkmesh_sql_secondary_lag_seconds{"} {
		if strings.Contains(body, absent) {
			t.Errorf("%s exported while SQL Server cannot be read", absent)
		}
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
