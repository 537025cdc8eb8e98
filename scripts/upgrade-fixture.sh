#!/usr/bin/env bash
# Makes the data dirs tests/upgrade starts the current keeld on: builds keeld at REV (default:
# the last release whose raft log is raft-boltdb), runs a 3-member cluster of it on
# 127.0.9.1-3 with some history, and writes tests/upgrade/testdata/keel-2026-11.{tar.gz,json}.
#   scripts/upgrade-fixture.sh            # REV=9308c02
set -euo pipefail
cd "$(dirname "$0")/.."
REV=${REV:-9308c02}
work=$(mktemp -d /tmp/keel-upgrade-fixture.XXXXXX)
cleanup() {
  git worktree remove --force "$work/src" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
git worktree add --detach "$work/src" "$REV" >/dev/null
(cd "$work/src" && go build -o "$work/keeld" ./cmd/keeld)
go test -count=1 -v -run TestUpgradeFromRaftBoltRelease ./tests/upgrade/ -upgrade.make-fixture="$work/keeld"
