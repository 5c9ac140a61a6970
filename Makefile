# Weft — developer entry points. See README.md.
GO      ?= go
BIN     := bin
DEVNET  ?= devnet
BENCH_TXS ?= 20000

.PHONY: build run test bench chaos lint clean

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/... ./samples/basic

run: build
	./$(BIN)/weft up --dir $(DEVNET) $(if $(ORDERERS),--orderers $(ORDERERS))

test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

bench: build
	$(GO) test -run '^$$' -bench 'Commit|Validate|Ledger|ECDSA' -benchtime 5x ./bench/
	$(GO) test -run '^$$' -bench ChaincodePut -benchtime 3000x ./bench/
	./$(BIN)/weft bench --devnet --txs $(BENCH_TXS)

# Randomised faults (kills, freezes, restarts, partitions) on a 3-orderer Raft
# cluster in network namespaces for CHAOS_DURATION, then the exactly-once and
# identical-chains checks; then the cluster measurements (failover, 3 vs 1
# node throughput, catch-up). Needs root, iproute2 and iptables.
CHAOS_DURATION ?= 2m
chaos:
	WEFT_CHAOS=1 WEFT_MEASURE=1 CHAOS_DURATION=$(CHAOS_DURATION) \
		$(GO) test -count=1 -v -timeout 60m -run 'TestChaos|TestMeasure' ./e2e/cluster/

lint:
	@test -z "$$(gofmt -l .)" || (echo "gofmt needs to run on:"; gofmt -l .; exit 1)
	$(GO) vet ./...

clean:
	rm -rf $(BIN) $(DEVNET)
