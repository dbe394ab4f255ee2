// Package netlab is the network lab of linkmesh's end-to-end tests: real hosts
// in Linux network namespaces joined by a router, and faults injected on that
// router between them.
//
// New builds three hosts — sql (198.18.1.2), the router wan (198.18.1.1 and
// 198.18.2.1) and mi (198.18.2.2) — each held by a child process (sleep)
// started in its own anonymous network namespace with Pdeathsig=SIGKILL, so
// nothing is left behind even when the test binary is killed. Lab.AddHost adds
// more hosts on 198.18.N.0/24.
//
// Faults are set with Lab.Inject, one direction at a time, using iptables and
// tc inside the router's namespace only (never the root namespace); each
// Injection can be removed while traffic flows. Delay is done by an NFQUEUE
// delayer in this process, since the kernels the tests run on have no netem.
//
// Tests reach into a host in two ways: Host.Command/Host.Start run a program
// there (the linkmesh binary from BuildLinkmesh), and Host.Do, Host.Listen and
// Host.DialContext create sockets there from the test process itself.
//
// Addresses come only from 198.18.0.0/15. The lab needs root and the ip, tc,
// iptables and nsenter commands; without them New skips the test, except
// under CI=true, where it fails it. On systems other than Linux New skips.
package netlab
