# Keel — see README.md. `make run` starts a local 3-member cluster, `make test` runs the tests.
GO ?= go
BIN := bin
PKGS := ./...

.PHONY: all build build-failpoints run test test-short test-integration bench bench-rangestream bench-vs-etcd bench-orch bench-orch-external chaos robustness docker fuzz lint fmt vet proto verify-proto verify tools clean

all: build

# The commit goes into --version for builds without VCS information (version.gitCommit).
GIT_COMMIT := $(shell git rev-parse --short=12 HEAD 2>/dev/null)$(shell git diff --quiet HEAD 2>/dev/null || echo -dirty)
LDFLAGS := -X github.com/keeldb/keel/version.gitCommit=$(GIT_COMMIT)

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

# keeld with gofail's failpoints compiled in (internal/failpoint, docs/RELIABILITY.md
# "Failpoints"): armed by GOFAIL_FAILPOINTS at start or over GOFAIL_HTTP. For tests only.
build-failpoints:
	$(GO) build -tags failpoints -o $(BIN)/keeld-failpoints ./cmd/keeld

run: build
	./scripts/run-local.sh

# tests/k8sstorage is its own module (k8s.io/apiserver's tree stays out of go.mod), which
# ./... does not enter: it runs second, without -race: it checks Keel's wire behaviour against
# the apiserver's storage layer, and a race build of that tree costs minutes on 2 cores (the
# store's own races are what the first line's -race run covers).
test:
	$(GO) test -race -count=1 -timeout 20m $(PKGS)
	cd tests/k8sstorage && $(GO) test -count=1 -timeout 10m ./...

test-short:
	$(GO) test -short -count=1 $(PKGS)

# Go benchmarks of the hot paths, then every keelbench workload against a local Keel.
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./mvcc/ ./apply/ ./watch/
	KEEL_ONLY=1 MEM_KEYS=0 OUT=bench/results/keel-only ./scripts/bench-vs-etcd.sh

# A member's peak RSS growth while it serves 1M small keys with RangeStream and with one plain
# Range (tests/rangestream; figures in bench/PERFORMANCE.md "RangeStream memory").
bench-rangestream:
	$(GO) test -run '^$$' -bench RangeStreamMemory -benchtime=1x -timeout 40m ./tests/rangestream/

# Keel and Debian's etcd side by side (installs etcd-server if missing); writes
# bench/results/REPORT.md. ROUNDS=5 SCALE=2 for longer runs.
bench-vs-etcd: build
	./scripts/bench-vs-etcd.sh

# The orchestrator scale benchmark: orch bench --nodes 1000 --replicas 10000 against a local
# 3-member Keel; writes bench/results/ORCH.md (goal: all 10,000 pods Running within 60 s).
bench-orch: build
	./scripts/bench-orch.sh

# The same with the scheduler, controller-manager and sim agent as separate processes
# (orch bench --external); writes bench/results/ORCH-external.md.
bench-orch-external: build
	EXTERNAL=1 ./scripts/bench-orch.sh

# The container image: a static keeld built here (no registry is reachable, so no golang
# build stage) copied into a FROM scratch image. KEEL_IMAGE names it.
KEEL_IMAGE ?= keel:chaos
docker:
	mkdir -p $(BIN)/image
	CGO_ENABLED=0 GOOS=linux $(GO) build -trimpath -ldflags='-s -w' -o $(BIN)/image/keeld-static ./cmd/keeld
	docker build -q -f deploy/Dockerfile -t $(KEEL_IMAGE) $(BIN)/image

# The container tier (tests/containers): 3- and 5-member clusters from deploy/compose-*.yml,
# with partitions (docker network disconnect) and member loss, histories checked with
# porcupine. Needs a Docker engine and docker-compose; pulls nothing.
chaos: SHELL := /bin/bash
chaos: docker
	KEEL_CHAOS=1 KEEL_IMAGE=$(KEEL_IMAGE) $(GO) test -count=1 -v -timeout 20m ./tests/containers/ 2>&1 | \
	  tee $(BIN)/chaos.log | grep -vE '^(=== RUN|    --- PASS: TestModel/)|report:'; \
	  exit $${PIPESTATUS[0]}

# Random robustness scenarios (tests/robustness: cluster size, traffic profile, fault) for
# DURATION; SEED=... replays a run (each failure prints the seed and a command). The fixed-seed
# subset, TestRobustness, runs in make test. KEEL_ROBUSTNESS_ARTIFACTS sets where a failed
# scenario keeps its history, member logs and porcupine visualization.
DURATION ?= 10m
SEED ?=
robustness:
	KEEL_ROBUSTNESS_DURATION=$(DURATION) SEED=$(SEED) $(GO) test -count=1 -v -timeout 0 -run '^TestRobustnessRandom$$' ./tests/robustness/

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzValidateTxn -fuzztime 60s ./apply/
	$(GO) test -run '^$$' -fuzz FuzzValidateRange -fuzztime 60s ./apply/
	$(GO) test -run '^$$' -fuzz FuzzApplyCommand -fuzztime 60s ./raftstore/
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 30s ./orchestrator/labels/
	$(GO) test -run '^$$' -fuzz FuzzDecodeManifests -fuzztime 30s ./orchestrator/api/

fmt:
	gofmt -w $$(git ls-files '*.go' | grep -v '\.pb\.go$$')

# Both build-tag sets: the default and the failpoints one (internal/failpoint).
vet:
	$(GO) vet $(PKGS)
	$(GO) vet -tags failpoints $(PKGS)
	cd tests/k8sstorage && $(GO) vet ./...

# go vet, gofmt, then staticcheck: pinned by go.mod's tool block, so after `go mod download`
# it builds and runs offline. The nested module tests/k8sstorage gets vet and gofmt, not
# staticcheck (the tool is pinned in the main module only; that module holds only tests that
# mirror k8s.io/apiserver's own).
lint: vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$'))" || (gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$'); exit 1)
	$(GO) tool staticcheck $(PKGS)
	$(GO) tool staticcheck -tags failpoints $(PKGS)

proto:
	PATH="$$(dirname $$($(GO) tool -n protoc-gen-go)):$$(dirname $$($(GO) tool -n protoc-gen-go-grpc)):$$PATH" \
	  protoc -I api/proto --go_out=api/proto --go_opt=paths=source_relative \
	  --go-grpc_out=api/proto --go-grpc_opt=paths=source_relative api/proto/keel.proto

verify-proto: proto
	git diff --exit-code -- api/proto

verify: lint verify-proto
	$(GO) mod tidy && git diff --exit-code -- go.mod go.sum

clean:
	rm -rf $(BIN) data
