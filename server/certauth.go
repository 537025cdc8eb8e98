package server

import (
	"context"
	"crypto/tls"
	"net"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
)

// connInfoCreds tells gRPC what the client mux already knows about a connection: on an
// https client URL the TLS handshake has run (server/mux.go), so the handshake here only
// reports the session (the peer's verified certificate chain) to gRPC, where
// peer.FromContext finds it for --client-cert-auth's CN → user mapping. Plain connections
// pass with no auth info.
type connInfoCreds struct{}

var _ credentials.TransportCredentials = connInfoCreds{}

func (connInfoCreds) ClientHandshake(_ context.Context, _ string, c net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return c, nil, nil
}

func (connInfoCreds) ServerHandshake(c net.Conn) (net.Conn, credentials.AuthInfo, error) {
	inner := c
	if pc, ok := c.(*prefixConn); ok {
		inner = pc.Conn
	}
	if tc, ok := inner.(*tls.Conn); ok {
		return c, credentials.TLSInfo{State: tc.ConnectionState(),
			CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}}, nil
	}
	return c, nil, nil
}

func (connInfoCreds) Info() credentials.ProtocolInfo          { return credentials.ProtocolInfo{} }
func (connInfoCreds) Clone() credentials.TransportCredentials { return connInfoCreds{} }
func (connInfoCreds) OverrideServerName(string) error         { return nil }

// certUser returns the common name of the client certificate of ctx's connection, as etcd's
// AuthInfoFromTLS: the first verified chain's leaf, "" without one.
func certUser(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return ""
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.VerifiedChains) == 0 || len(ti.State.VerifiedChains[0]) == 0 {
		return ""
	}
	return ti.State.VerifiedChains[0][0].Subject.CommonName
}
