package raftstore

import (
	"errors"
	"testing"
)

func TestPlanLog(t *testing.T) {
	for _, tc := range []struct {
		name            string
		hasBolt, hasWAL bool
		want            LogBackend
		migrate         bool
		plan            logPlan
		err             error
	}{
		{name: "new dir, wal", want: LogBackendWAL, plan: logPlan{use: LogBackendWAL}},
		{name: "new dir, bolt", want: LogBackendBolt, plan: logPlan{use: LogBackendBolt}},
		{name: "new dir, migrate asked: nothing to migrate", want: LogBackendWAL, migrate: true, plan: logPlan{use: LogBackendWAL}},
		{name: "raft.db kept as it is", hasBolt: true, want: LogBackendWAL, plan: logPlan{use: LogBackendBolt}},
		{name: "raft.db with bolt asked", hasBolt: true, want: LogBackendBolt, plan: logPlan{use: LogBackendBolt}},
		{name: "raft.db migrated on request", hasBolt: true, want: LogBackendWAL, migrate: true,
			plan: logPlan{use: LogBackendWAL, migrate: true}},
		{name: "wal", hasWAL: true, want: LogBackendWAL, plan: logPlan{use: LogBackendWAL}},
		{name: "wal never opened as bolt", hasWAL: true, want: LogBackendBolt, err: ErrLogBackendMismatch},
		{name: "migration done but raft.db not retired", hasBolt: true, hasWAL: true, want: LogBackendWAL,
			plan: logPlan{use: LogBackendWAL, retire: true}},
		{name: "migration done, migrate asked again", hasBolt: true, hasWAL: true, want: LogBackendWAL, migrate: true,
			plan: logPlan{use: LogBackendWAL, retire: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := planLog(tc.hasBolt, tc.hasWAL, tc.want, tc.migrate)
			if !errors.Is(err, tc.err) {
				t.Fatalf("got error %v, want %v", err, tc.err)
			}
			if plan != tc.plan {
				t.Errorf("got %+v, want %+v", plan, tc.plan)
			}
		})
	}
}
