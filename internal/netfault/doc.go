// Package netfault is a TCP proxy that injects network faults between cluster members: delay,
// drop, blackhole and connection resets, per direction. It is test infrastructure (the
// multi-process tier, docs/RELIABILITY.md "Network faults"), but a real proxy: real sockets,
// real bytes, nothing mocked.
//
// # Topology
//
// One Proxy fronts one member and sees all of that member's peer traffic:
//
//   - its forwarding listener (Addr) stands in front of the member's peer port: the member
//     advertises Addr as its peer URL, so every connection another member opens TO it passes
//     through here and is forwarded to Config.Target;
//   - its dial listener (DialAddr) is an HTTP CONNECT proxy for the connections the member
//     opens FROM itself (keeld's --peer-dial-proxy): the member sends "CONNECT host:port",
//     the proxy dials host:port and then relays bytes.
//
// Directions are named from the fronted member's side, on both listeners:
//
//   - Rx: bytes travelling to the member (what it receives);
//   - Tx: bytes travelling from the member (what it sends);
//   - Both: Rx|Tx.
//
// So Blackhole(Tx) on member i's proxy silences everything i sends, to every peer, while i
// still hears them: a one-way partition. Traffic from member i to member j crosses i's proxy
// (Tx) and then j's (Rx).
//
// # Faults, at the TCP level
//
// The proxy relays chunks (one read of up to 32 KiB) and decides per chunk, per direction:
//
//   - Delay(dir, d, jitter): each chunk is held for d plus a random [0, jitter) before it is
//     written on; chunks of one connection keep their order (a chunk never overtakes an
//     earlier one, so jitter shortens a later chunk's wait rather than reordering bytes), and a
//     full queue pushes back on the sender as a slow link does.
//   - Drop(dir, fraction): each chunk is, with the given probability, lost together with its
//     connection: the chunk is discarded and both sides of the connection are reset (RST).
//     TCP never hands an application a stream with a hole in it: real packet loss shows up as
//     retransmission delay or, when it persists, as a broken connection. Discarding a chunk
//     and forwarding the rest would feed the receiver's decoder a corrupt stream, which tests
//     the decoder, not the cluster; so Drop breaks connections instead, and the peer has to
//     reconnect and resend, as after real sustained loss.
//   - Blackhole(dir): chunks are read and silently discarded; the connections stay open and
//     new ones are still accepted, so the sender's writes succeed and its reads time out, as
//     across a network partition. A direction of a connection that lost bytes this way has a
//     hole: it never forwards another byte (the connection is reset when that direction next
//     would, and by Heal), for the same reason as Drop; the other direction keeps flowing, so
//     under Blackhole(Rx) a member's requests still arrive and only the answers vanish.
//   - BlackholePeer(addr, dir): Blackhole for the connections the member dialed to one peer
//     only (through the CONNECT listener, so the destination is known). A partition between
//     two members is BlackholePeer on both members' proxies, each naming the other.
//   - ResetConns: resets every open connection at once (a middlebox restart).
//   - Heal: clears every fault in both directions and resets the damaged connections. Chunks
//     already held by a delay are still delivered, in order.
//
// A new fault replaces the previous one of the same kind for that direction; faults of
// different kinds combine (a delayed link may also drop). The CONNECT handshake itself is not
// faulted: a member's dial through a blackholed proxy succeeds and its bytes vanish.
//
// Randomness (jitter, drop) comes from one source seeded with Config.Seed, so a test that
// logs its seed can replay the same decisions for the same sequence of chunks.
//
// # Concurrency
//
// A Proxy is safe for concurrent use. New starts its goroutines: one accept loop per
// listener and, per relayed connection, one reader and one writer per direction. Close stops
// accepting, resets every connection and waits for every goroutine; it is idempotent.
//
// # Caveats
//
// When the target cannot be dialed, the accepted connection is closed at once: through a
// proxy, a dial to a stopped member looks like a connection that is accepted and then reset,
// not like "connection refused". The proxy does not parse what it relays, so TLS between the
// members works through it unchanged.
//
// Not here: bandwidth limits, reordering, and per-peer delay or drop (only blackholes can be
// per peer; the other faults apply to every peer of the fronted member). The forwarding
// listener cannot tell which peer an accepted connection comes from, which is why per-peer
// faults act on the member's own dials.
package netfault
