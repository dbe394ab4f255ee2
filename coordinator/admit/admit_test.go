package admit

import (
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func gate(t *testing.T, secure bool, max int) *Gate {
	t.Helper()
	return New(Limits{MaxConnections: max, MaxConnectionsPerProbe: 1, MaxPlanStreamsPerProbe: 1,
		ResultsPerSecondPerProbe: 100, RequestsPerSecondPerProbe: 10, MaxTrackedProbes: 10, MaxBatch: 100},
		secure, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
}

// closedByServer reports whether the server closed c (a read sees EOF or a reset
// before the deadline).
func closedByServer(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err := c.Read(make([]byte, 1))
	ne, ok := err.(net.Error)
	return err != nil && !(ok && ne.Timeout())
}

// TestListenerShedsUnfinishedHandshakes: at the connection bound a new
// connection sheds the oldest one still in its handshake (with TLS), or is
// refused (without TLS, where there is nothing to tell strangers by).
func TestListenerShedsUnfinishedHandshakes(t *testing.T) {
	tests := []struct {
		name        string
		secure      bool
		wantShed    bool // the first connection is closed
		wantRefusal bool // the third connection is closed
		wantReason  string
	}{
		{"tls: shed the oldest pending", true, true, false, ReasonShed},
		{"insecure: refuse the new one", false, false, true, ReasonConnections},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := gate(t, tt.secure, 2)
			raw, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			lis := g.Listener(raw)
			defer lis.Close()
			accepted := make(chan net.Conn, 3)
			go func() {
				for {
					c, err := lis.Accept()
					if err != nil {
						return
					}
					accepted <- c
				}
			}()
			var clients []net.Conn
			for i := range 3 {
				c, err := net.Dial("tcp", raw.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				clients = append(clients, c)
				if i < 2 {
					<-accepted // in order, so "oldest" is well defined
				}
			}
			if tt.wantShed {
				<-accepted
			}
			if got := closedByServer(clients[0]); got != tt.wantShed {
				t.Errorf("first connection closed: %v, want %v", got, tt.wantShed)
			}
			if got := closedByServer(clients[2]); got != tt.wantRefusal {
				t.Errorf("third connection closed: %v, want %v", got, tt.wantRefusal)
			}
			var m dto.Metric
			if err := g.refused.WithLabelValues(tt.wantReason).Write(&m); err != nil {
				t.Fatal(err)
			}
			if v := m.GetCounter().GetValue(); v != 1 {
				t.Errorf("refused{reason=%q} = %v, want 1", tt.wantReason, v)
			}
		})
	}
}
