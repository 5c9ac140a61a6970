# Weft — developer entry points. See README.md.
GO      ?= go
BIN     := bin
DEVNET  ?= devnet
BENCH_TXS ?= 20000

.PHONY: build run test bench chaos lint clean docker compose-up compose-down

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
	$(GO) test -run '^$$' -bench RESTEvaluate -benchtime 3000x ./restgateway/
	./$(BIN)/weft bench --devnet --txs $(BENCH_TXS)

# Randomised faults (kills, freezes, restarts, partitions) on a 3-orderer Raft
# cluster in network namespaces for CHAOS_DURATION, then the exactly-once and
# identical-chains checks; then the cluster measurements (failover, 3 vs 1
# node throughput, catch-up). Needs root, iproute2 and iptables.
CHAOS_DURATION ?= 2m
chaos:
	WEFT_CHAOS=1 WEFT_MEASURE=1 CHAOS_DURATION=$(CHAOS_DURATION) \
		$(GO) test -count=1 -v -timeout 60m -run 'TestChaos|TestMeasure' ./e2e/cluster/

# Container images FROM scratch from static binaries: weft/peer, weft/orderer,
# weft/setup (weft CLI + cmd/weft-setup), weft/basic, weft/restgateway. Nothing is pulled.
docker:
	GO=$(GO) deploy/images.sh

# The docker-compose network (deploy/docker-compose.yaml): three Raft orderers,
# two organisations with two peers each, basic as a chaincode service and the
# REST gateway on localhost:8080. Generates deploy/build/network (crypto,
# genesis block, chaincode package) on first use, starts the containers and
# waits for the setup container (channel joins, basic deployed, InitLedger).
COMPOSE ?= docker-compose
COMPOSE_FILE := deploy/docker-compose.yaml
compose-up: docker
	deploy/build/bin/weft-setup generate -config deploy/config -out deploy/build/network
	$(COMPOSE) -f $(COMPOSE_FILE) up -d
	$(COMPOSE) -f $(COMPOSE_FILE) logs -f --no-color setup
	@test "$$(docker wait $$($(COMPOSE) -f $(COMPOSE_FILE) ps -q setup))" = 0 || \
		{ echo "the setup container failed: see its log above and $(COMPOSE) -f $(COMPOSE_FILE) logs"; exit 1; }
	@echo "ready: try curl -s -X POST localhost:8080/v1/channels/mychannel/chaincodes/basic/evaluate -H \"Authorization: Bearer \$$(cat deploy/build/network/restgateway/token)\" -H 'Content-Type: application/json' -d '{\"function\":\"GetAllAssets\"}'"

# Stops the network and deletes its ledgers (volumes) and generated material.
compose-down:
	$(COMPOSE) -f $(COMPOSE_FILE) down -v
	rm -rf deploy/build/network

lint:
	@test -z "$$(gofmt -l .)" || (echo "gofmt needs to run on:"; gofmt -l .; exit 1)
	$(GO) vet ./...

clean:
	rm -rf $(BIN) $(DEVNET)
