# Keel — see README.md. `make run` starts a local 3-member cluster, `make test` runs the tests.
GO ?= go
BIN := bin
PKGS := ./...

.PHONY: all build run test test-short test-integration bench bench-vs-etcd chaos fuzz lint fmt vet proto verify-proto verify tools clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

run: build
	./scripts/run-local.sh

test:
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

test-short:
	$(GO) test -short -count=1 $(PKGS)

# Go benchmarks of the hot paths, then every keelbench workload against a local Keel.
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./mvcc/ ./apply/ ./watch/
	KEEL_ONLY=1 MEM_KEYS=0 OUT=bench/results/keel-only ./scripts/bench-vs-etcd.sh

# Keel and Debian's etcd side by side (installs etcd-server if missing); writes
# bench/results/REPORT.md. ROUNDS=5 SCALE=2 for longer runs.
bench-vs-etcd: build
	./scripts/bench-vs-etcd.sh

chaos:
	@echo "container chaos tier: not built yet (issue 4)"; exit 1

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzValidateTxn -fuzztime 60s ./apply/
	$(GO) test -run '^$$' -fuzz FuzzValidateRange -fuzztime 60s ./apply/

fmt:
	gofmt -w $$(git ls-files '*.go' | grep -v '\.pb\.go$$')

vet:
	$(GO) vet $(PKGS)

lint: vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$'))" || (gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$'); exit 1)

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
