package tlsconf

import (
	"context"
	"crypto/tls"
	"net"

	"google.golang.org/grpc/credentials"
)

// ServerConfig returns a TLS configuration built from the current material:
// TLS 1.3 only, a client certificate signed by the CA required.
func (s *Source) ServerConfig() *tls.Config {
	m := s.Current()
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{m.Cert},
		ClientCAs:    m.Pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
	}
}

// ClientConfig returns a TLS configuration built from the current material:
// TLS 1.3 only, the server verified against the CA (as serverName when given,
// else as the host of the address dialled), this party's certificate offered.
func (s *Source) ClientConfig(serverName string) *tls.Config {
	m := s.Current()
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{m.Cert},
		RootCAs:      m.Pool,
		ServerName:   serverName,
	}
}

// HandshakeHook sees the outcome of every server-side handshake: err is the
// handshake's error, or nil with info describing the verified peer. A non-nil
// return refuses a connection whose handshake succeeded (e.g. too many from one
// identity). raw is the connection as accepted.
type HandshakeHook func(raw net.Conn, info *credentials.TLSInfo, err error) error

// ServerCredentials returns gRPC transport credentials for a server that build a
// fresh TLS configuration from src for every handshake (so reloaded files take
// effect without a restart) and report each handshake to hook (may be nil).
func ServerCredentials(src *Source, hook HandshakeHook) credentials.TransportCredentials {
	return &creds{src: src, hook: hook}
}

// ClientCredentials returns gRPC transport credentials for a client; serverName
// overrides the name the server's certificate is checked against ("" uses the
// host of the dialled address).
func ClientCredentials(src *Source, serverName string) credentials.TransportCredentials {
	return &creds{src: src, serverName: serverName}
}

// creds implements credentials.TransportCredentials on top of grpc's own TLS
// credentials, made anew from the Source's current material per handshake.
type creds struct {
	src        *Source
	serverName string
	hook       HandshakeHook
}

func (c *creds) ClientHandshake(ctx context.Context, authority string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return credentials.NewTLS(c.src.ClientConfig(c.serverName)).ClientHandshake(ctx, authority, raw)
}

func (c *creds) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, auth, err := credentials.NewTLS(c.src.ServerConfig()).ServerHandshake(raw)
	if c.hook == nil {
		return conn, auth, err
	}
	var info *credentials.TLSInfo
	if ti, ok := auth.(credentials.TLSInfo); ok && err == nil {
		info = &ti
	}
	if herr := c.hook(raw, info, err); herr != nil && err == nil {
		conn.Close()
		return nil, nil, herr
	}
	return conn, auth, err
}

func (c *creds) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "tls"}
}

func (c *creds) Clone() credentials.TransportCredentials {
	cp := *c
	return &cp
}

// OverrideServerName is part of the (deprecated) interface; it sets the name the
// server's certificate is checked against.
func (c *creds) OverrideServerName(name string) error {
	c.serverName = name
	return nil
}
