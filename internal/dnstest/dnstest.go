// Package dnstest is a tiny DNS server for tests: it answers A and AAAA queries
// for the names it is given and NXDOMAIN for every other name, on a UDP socket
// the test opens (on loopback, or inside a lab namespace). Tests point a
// resolver at it (check.NewResolver, or linkmesh check --dns-server) so that no
// query ever reaches a real DNS server.
package dnstest

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// Server answers queries on one UDP socket until Close.
type Server struct {
	srv  *dns.Server
	addr string
	done chan error

	mu      sync.Mutex
	records map[string][]netip.Addr // lower-case FQDN with trailing dot
	queries int
}

// Serve starts answering on pc with records (host name → addresses). It takes
// pc over: Close closes it.
func Serve(pc net.PacketConn, records map[string][]netip.Addr) (*Server, error) {
	s := &Server{addr: pc.LocalAddr().String(), done: make(chan error, 1), records: map[string][]netip.Addr{}}
	for name, addrs := range records {
		s.Set(name, addrs...)
	}
	started := make(chan struct{})
	s.srv = &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(s.answer), NotifyStartedFunc: func() { close(started) }}
	go func() { s.done <- s.srv.ActivateAndServe() }()
	select {
	case <-started:
		return s, nil
	case err := <-s.done:
		return nil, fmt.Errorf("dnstest: serve on %s: %w", s.addr, err)
	}
}

// Addr returns the address the server answers on, e.g. "127.0.0.1:40512".
func (s *Server) Addr() string { return s.addr }

// Set replaces the addresses of name (none: the name stops existing).
func (s *Server) Set(name string, addrs ...netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records[dns.Fqdn(strings.ToLower(name))] = addrs
}

// Queries returns how many queries the server has answered.
func (s *Server) Queries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries
}

// Close stops the server and closes its socket.
func (s *Server) Close() error {
	err := s.srv.Shutdown()
	<-s.done
	return err
}

func (s *Server) answer(w dns.ResponseWriter, req *dns.Msg) {
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.Authoritative = true
	s.mu.Lock()
	s.queries++
	var addrs []netip.Addr
	known := false
	if len(req.Question) == 1 {
		addrs, known = s.records[strings.ToLower(req.Question[0].Name)]
	}
	s.mu.Unlock()
	if !known || len(addrs) == 0 {
		resp.SetRcode(req, dns.RcodeNameError)
		_ = w.WriteMsg(resp)
		return
	}
	q := req.Question[0]
	hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Ttl: 60}
	for _, a := range addrs {
		switch {
		case q.Qtype == dns.TypeA && a.Is4():
			hdr.Rrtype = dns.TypeA
			resp.Answer = append(resp.Answer, &dns.A{Hdr: hdr, A: a.AsSlice()})
		case q.Qtype == dns.TypeAAAA && a.Is6():
			hdr.Rrtype = dns.TypeAAAA
			resp.Answer = append(resp.Answer, &dns.AAAA{Hdr: hdr, AAAA: a.AsSlice()})
		}
	}
	_ = w.WriteMsg(resp)
}
