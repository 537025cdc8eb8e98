// Package proccluster starts multi-member clusters of real server processes for tests: Keel's
// keeld or etcd itself, both driven by etcd's command-line flags. It is the multi-process tier
// of the test pyramid (docs/RELIABILITY.md "The test tiers", tier 3; docs/STYLE.md "Tests"):
// real binaries, real disks in t.TempDir(), real TCP on loopback, SIGKILL, SIGTERM,
// SIGSTOP/SIGCONT and restarts.
//
// Usage:
//
//	c := proccluster.Start(t, proccluster.Config{Binary: proccluster.EtcdBinary(t), Members: 3})
//	cli := c.Client(t)          // clientv3 over every endpoint, closed by t.Cleanup
//	leader, err := c.Leader(ctx)
//	c.Kill(leader)              // SIGKILL, waits for the process to exit
//	_, err = c.WaitLeader(ctx)  // the two survivors elect a new leader
//	c.Restart(leader)           // same flags, same data dir
//	err = c.WaitHealthy(ctx)
//
// Each member i is named "m<i>" and gets its own client and peer port on 127.0.0.1 (never the
// 2379/2380 defaults) and the flags
//
//	--name --data-dir --listen-client-urls --advertise-client-urls --listen-peer-urls
//	--initial-advertise-peer-urls --initial-cluster --initial-cluster-state new
//	--initial-cluster-token <unique per cluster>
//
// followed by Config.ExtraArgs. A restart reuses exactly the same flags: etcd, and keeld,
// ignore the initial-cluster flags when the data dir already holds a member.
//
// With Config.TLS, every client and peer URL is https, the members get etcd's TLS flags with
// client certificates required on both (--cert-file --key-file --trusted-ca-file
// --client-cert-auth and the --peer-* twins), and Status and Client present the same
// certificate; ClientTLS returns that client configuration for other clients. With
// Config.AdvertisePeerURL a member can advertise another peer URL than it listens on, e.g. a
// proxy a test puts in front of its peer port. With Config.PeerProxies the harness does that
// itself: every member gets an internal/netfault proxy in front of its peer port and dials its
// peers through the same proxy (keeld's --peer-dial-proxy), and PeerProxy(i) returns it, so a
// test can blackhole, delay or drop member i's peer traffic in either direction:
//
//	c := proccluster.Start(t, proccluster.Config{Binary: proccluster.BuildKeeld(t), PeerProxies: true})
//	c.PeerProxy(leader).Blackhole(netfault.Both) // the leader is partitioned from its peers
//	c.BlackholeBetween(0, 1)                     // everything m0 sends m1 is lost
//	c.HealPeers()
//
// With Config.GofailHTTP every member of a keeld built with failpoints
// (BuildKeeldWithTags(t, "failpoints")) serves gofail's HTTP endpoint on its own port, and
// ArmFailpoint, DisarmFailpoint and FailpointCount speak to it (docs/RELIABILITY.md
// "Failpoints"):
//
//	err := c.ArmFailpoint(ctx, leader, failpoint.BackendBeforeCommit, "panic")
//
// Guarantees:
//   - Start returns only when every member answers a Maintenance.Status call and all of them
//     report the same, non-zero leader. It polls with a deadline (Config.StartTimeout) and never
//     sleeps to synchronize; on timeout it fails the test with the last error seen.
//   - Every process is SIGKILLed and reaped by t.Cleanup, and on Linux also when the test binary
//     dies (Pdeathsig). A paused member is killed too.
//   - Each member's stdout and stderr go to <LogDir>/m<i>.log, appended across restarts with a
//     marker line. When the test has failed, the tail of every log is printed with t.Log.
//
// Concurrency: the wait and query methods that take a context (Leader, WaitLeader, WaitHealthy,
// WaitMember, Status) return errors and may be called from any goroutine. The lifecycle methods
// (Kill, Stop, Restart, Pause, Resume) and Client report failures with t.Fatal, so call them from
// the test goroutine only. A Cluster is safe for concurrent use.
//
// Caveat: free ports are found by binding 127.0.0.1:0 and closing the listener, so another
// process can take a port before the member binds it. Start retries the whole cluster with new
// ports (up to three times) when a member fails to bind; Restart cannot, because peers know
// the old addresses.
package proccluster
