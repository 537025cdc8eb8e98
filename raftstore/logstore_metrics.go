package raftstore

import (
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
)

// timedLogStore is a raft.LogStore that reports how long every append takes. raft-boltdb
// commits (and fsyncs) once per StoreLogs call, so this is Keel's equivalent of etcd's WAL
// fsync latency (etcd_disk_wal_fsync_duration_seconds). Reads and deletes pass through.
type timedLogStore struct {
	raft.LogStore
	observe func(d time.Duration)
}

var _ raft.LogStore = (*timedLogStore)(nil)

// StoreLog appends one entry and records the time it took.
func (s *timedLogStore) StoreLog(l *raft.Log) error {
	start := time.Now()
	err := s.LogStore.StoreLog(l)
	s.observe(time.Since(start))
	return err
}

// StoreLogs appends entries in one commit and records the time it took.
func (s *timedLogStore) StoreLogs(logs []*raft.Log) error {
	start := time.Now()
	err := s.LogStore.StoreLogs(logs)
	s.observe(time.Since(start))
	return err
}

// observeSeconds adapts a histogram of seconds to a duration callback.
func observeSeconds(h prometheus.Observer) func(time.Duration) {
	return func(d time.Duration) { h.Observe(d.Seconds()) }
}
