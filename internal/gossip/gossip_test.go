package gossip

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/waitfor"
)

// syncBuf collects log output from several goroutines.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

// startNode starts a member on loopback with the local profile and runs it until
// the test ends (or stop is called).
func startNode(t testing.TB, meta Meta, key []byte, join []string, logs *syncBuf) (*Node, context.CancelFunc) {
	t.Helper()
	var w interface{ Write([]byte) (int, error) } = &syncBuf{}
	if logs != nil {
		w = logs
	}
	n, err := Start(Config{
		Meta:           meta,
		Bind:           "127.0.0.1:0",
		Join:           join,
		Key:            key,
		Profile:        "local",
		RejoinInterval: 500 * time.Millisecond,
		Logger:         slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatalf("Start %s: %v", meta.Name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.Run(ctx)
	}()
	stop := func() {
		cancel()
		<-done
	}
	t.Cleanup(stop)
	return n, stop
}

func stateOfMember(n *Node, name string) State {
	for _, m := range n.Members() {
		if m.NodeName == name {
			return m.State
		}
	}
	return ""
}

func TestMembersSeeEachOther(t *testing.T) {
	key := testKey(1)
	coord, _ := startNode(t, Meta{Role: RoleCoordinator, Name: "c1", GRPC: "127.0.0.1:7022"}, key, nil, nil)
	seed := []string{coord.Addr()}
	sql, _ := startNode(t, Meta{Role: RoleProbe, Name: "sql1", Site: "sql", Labels: map[string]string{"dc": "ams"}, Responder: ":5023"}, key, seed, nil)
	mi, _ := startNode(t, Meta{Role: RoleProbe, Name: "mi1", Site: "mi"}, key, seed, nil)
	for _, n := range []*Node{coord, sql, mi} {
		waitfor.Cond(t, 10*time.Second, "every member sees three alive", func() bool {
			alive := 0
			for _, m := range n.Members() {
				if m.State == StateAlive {
					alive++
				}
			}
			return alive == 3
		})
	}
	var got Member
	for _, m := range mi.Members() {
		if m.NodeName == "sql1" {
			got = m
		}
	}
	// Probes gossip no metadata: a member without it is a probe, named by its gossip name.
	if got.Meta.Role != RoleProbe || got.Meta.Name != "sql1" || got.Meta.Site != "" || got.Meta.Labels != nil {
		t.Errorf("mi1's view of sql1: %+v", got.Meta)
	}
	for _, m := range sql.Members() {
		if m.NodeName == "coordinator:c1" && (m.Meta.Name != "c1" || m.Meta.GRPC != "127.0.0.1:7022" || m.Meta.Role != RoleCoordinator) {
			t.Errorf("sql1's view of the coordinator: %+v", m.Meta)
		}
	}
	if st := stateOfMember(sql, "coordinator:c1"); st != StateAlive {
		t.Errorf("sql1 sees the coordinator as %q, want alive (node names of coordinators are prefixed)", st)
	}
	waitfor.Cond(t, 10*time.Second, "a ping RTT recorded", func() bool {
		for _, m := range coord.Members() {
			if !m.Self && m.RTT > 0 {
				return true
			}
		}
		return false
	})
}

func TestDeadAndLeftAreTold(t *testing.T) {
	key := testKey(2)
	coord, _ := startNode(t, Meta{Role: RoleCoordinator, Name: "c1"}, key, nil, nil)
	seed := []string{coord.Addr()}
	dying, _ := startNode(t, Meta{Role: RoleProbe, Name: "dying", Site: "mi"}, key, seed, nil)
	_, stopLeaver := startNode(t, Meta{Role: RoleProbe, Name: "leaver", Site: "sql"}, key, seed, nil)
	waitfor.Cond(t, 10*time.Second, "three alive", func() bool { return coord.NumAlive() == 3 })

	// A crash: gossip stops without a goodbye.
	dying.stopped.Store(true)
	if err := dying.ml.Shutdown(); err != nil {
		t.Fatal(err)
	}
	// A clean stop: Run's exit leaves the cluster.
	stopLeaver()
	waitfor.Cond(t, 10*time.Second, "the stopped member left", func() bool { return stateOfMember(coord, "leaver") == StateLeft })
	waitfor.Cond(t, 20*time.Second, "the crashed member dead", func() bool { return stateOfMember(coord, "dying") == StateDead })
}

func TestWrongKeyIsRefused(t *testing.T) {
	coordLogs, intruderLogs := &syncBuf{}, &syncBuf{}
	coord, _ := startNode(t, Meta{Role: RoleCoordinator, Name: "c1"}, testKey(3), nil, coordLogs)
	intruder, _ := startNode(t, Meta{Role: RoleProbe, Name: "intruder", Site: "x"}, testKey(4), []string{coord.Addr()}, intruderLogs)
	waitfor.Cond(t, 10*time.Second, "the intruder logs why it cannot join", func() bool {
		return strings.Contains(intruderLogs.String(), "same mesh key on every member")
	})
	if n := coord.NumAlive(); n != 1 {
		t.Errorf("coordinator sees %d alive members, want 1 (the intruder must not join)", n)
	}
	if st := stateOfMember(coord, "intruder"); st != "" {
		t.Errorf("coordinator knows the intruder as %q", st)
	}
	if intruder.NumAlive() != 1 {
		t.Errorf("intruder sees %d members, want only itself", intruder.NumAlive())
	}
	t.Logf("coordinator log on the refused join:\n%s", grep(coordLogs.String(), "decrypt", "key"))
}

func TestMetaTooLarge(t *testing.T) {
	_, err := Start(Config{Meta: Meta{Role: RoleCoordinator, Name: "c", GRPC: strings.Repeat("g", 600)}, Bind: "127.0.0.1:0", Profile: "local",
		Logger: slog.New(slog.NewTextHandler(&syncBuf{}, nil))})
	if err == nil || !strings.Contains(err.Error(), "gossip allows 512") {
		t.Fatalf("got %v, want an error about the metadata size", err)
	}
}

func grep(text string, words ...string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		for _, w := range words {
			if strings.Contains(l, w) {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

// TestKeyRotationMidway: halfway through a rotation, members that use different
// primary keys but accept each other's still form one cluster.
func TestKeyRotationMidway(t *testing.T) {
	oldKey, newKey := testKey(5), testKey(6)
	start := func(name string, primary, accepted []byte, join []string) *Node {
		n, err := Start(Config{Meta: Meta{Role: RoleProbe, Name: name, Site: "s"}, Bind: "127.0.0.1:0", Join: join,
			Key: primary, AcceptKeys: [][]byte{accepted}, Profile: "local", RejoinInterval: 500 * time.Millisecond,
			Logger: slog.New(slog.NewTextHandler(&syncBuf{}, nil))})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); n.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		return n
	}
	a := start("a", oldKey, newKey, nil)
	b := start("b", newKey, oldKey, []string{a.Addr()})
	waitfor.Cond(t, 10*time.Second, "both see two members", func() bool { return a.NumAlive() == 2 && b.NumAlive() == 2 })
}
