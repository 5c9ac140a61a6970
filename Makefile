# Weft — developer entry points. See README.md.
GO      ?= go
BIN     := bin
DEVNET  ?= devnet
BENCH_TXS ?= 20000

.PHONY: build run test bench chaos lint clean docker compose-up compose-down fuzz

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/... ./samples/basic

run: build
	./$(BIN)/weft up --dir $(DEVNET) $(if $(ORDERERS),--orderers $(ORDERERS)) $(if $(PEERS),--peers $(PEERS)) $(if $(ORGS),--orgs $(ORGS))

# The CouchDB tests need a CouchDB (or the CouchDB-compatible test server):
# WEFT_TEST_COUCHDB_URL names it, WEFT_TEST_COUCHDB_START the start script for
# the tests that stop and restart a server of their own. .ci/run sets both from
# the CouchDB-compatible test server it starts; unset, those tests skip. Either may also be given on
# the command line: make test WEFT_TEST_COUCHDB_URL=http://127.0.0.1:5984
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

# The end-to-end run goes once on LevelDB, then, when WEFT_BENCH_COUCHDB_URL
# names a CouchDB 3 (or CouchDB-compatible) server, again with the peers'
# state there (databases under bench_, dropped afterwards);
# WEFT_BENCH_COUCHDB_PID, the server's PID when it runs on this machine,
# adds its CPU to the figures. The commit-path benchmarks run on CouchDB
# too when WEFT_TEST_COUCHDB_URL is set (BenchmarkCommitBlock500CouchDB).
#
# The end-to-end runs: saturation (a closed loop of 500 transactions in
# flight, each from its proposal sent until its commit is seen), latency at
# 200 tx/s offered (open loop), Fabric's test-network blocks (10 tx / 2 s),
# and hot keys (transfers between 1,000 accounts drawn from Zipf 1.0). Each
# prints throughput, latency, CPU and RSS per process and the fraction of
# the signature bound measured in the same run.
BENCH_SMALL_TXS ?= 5000
bench: build
	$(GO) test -run '^$$' -bench 'Commit|Validate|Ledger|ECDSA' -benchtime 5x ./bench/
	$(GO) test -run '^$$' -bench LoopbackRoundTrip -benchtime 400x ./bench/
	$(GO) test -run '^$$' -bench ChaincodePut -benchtime 3000x ./bench/
	$(GO) test -run '^$$' -bench RESTEvaluate -benchtime 3000x ./restgateway/
	@echo "./$(BIN)/weft bench --devnet --txs $(BENCH_TXS)"
	@./$(BIN)/weft bench --devnet --txs $(BENCH_TXS)
	@echo "./$(BIN)/weft bench --devnet --txs 2000 --warmup 200 --rate 200"
	@./$(BIN)/weft bench --devnet --txs 2000 --warmup 200 --rate 200
	@echo "./$(BIN)/weft bench --devnet --txs $(BENCH_SMALL_TXS) --warmup 500 --batch-size 10 --batch-timeout 2s"
	@./$(BIN)/weft bench --devnet --txs $(BENCH_SMALL_TXS) --warmup 500 --batch-size 10 --batch-timeout 2s
	@echo "ORDERER_WEFT_CUTWHENIDLE=false ./$(BIN)/weft bench --devnet --txs $(BENCH_SMALL_TXS) --warmup 500 --batch-size 10 --batch-timeout 2s"
	@ORDERER_WEFT_CUTWHENIDLE=false ./$(BIN)/weft bench --devnet --txs $(BENCH_SMALL_TXS) --warmup 500 --batch-size 10 --batch-timeout 2s
	@echo "./$(BIN)/weft bench --devnet --txs $(BENCH_SMALL_TXS) --warmup 500 --keys 1000 --zipf 1.0"
	@./$(BIN)/weft bench --devnet --txs $(BENCH_SMALL_TXS) --warmup 500 --keys 1000 --zipf 1.0
	@if [ -n "$$WEFT_BENCH_COUCHDB_URL" ]; then \
	  echo "./$(BIN)/weft bench --devnet --txs $(BENCH_TXS) --couchdb \$$WEFT_BENCH_COUCHDB_URL$${WEFT_BENCH_COUCHDB_PID:+ --pid couchdb=$$WEFT_BENCH_COUCHDB_PID}"; \
	  ./$(BIN)/weft bench --devnet --txs $(BENCH_TXS) --couchdb "$$WEFT_BENCH_COUCHDB_URL" $${WEFT_BENCH_COUCHDB_PID:+--pid couchdb=$$WEFT_BENCH_COUCHDB_PID}; \
	else \
	  echo "make bench: skipped the end-to-end run on CouchDB; set WEFT_BENCH_COUCHDB_URL=http://127.0.0.1:5984 (a CouchDB 3 or compatible server) to run it after the LevelDB one"; \
	fi

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

# Every fuzz target of the module (func FuzzX in a _test.go file), one after
# the other for FUZZTIME each (go test takes one -fuzz target per run; each
# run fuzzes with one worker per CPU). FUZZTIME is a duration (60s) or a
# number of executions (1000000x). FUZZ narrows the targets by a regexp on
# their names, e.g. make fuzz FUZZ='WAL|BlockFile' FUZZTIME=60s. Prints each
# target's executions, time taken and result, logs to bin/fuzz/<target>.log, and
# exits non-zero when a target fails: a crash's input is then in
# <package>/testdata/fuzz/<target>/, where plain go test replays it. Scratch
# files (WAL, block store and ledger targets) go to FUZZ_TMPDIR, a tmpfs
# when there is one. FUZZMINIMIZETIME bounds the minimising of each input
# that reaches new code (and of a crasher): go test's default, 60s, spends a
# short run minimising large inputs (a config block) in executions it does
# not count, so make fuzz does not minimise; set it to minimise a crasher.
# The record is in docs/security.md#fuzzing.
FUZZTIME ?= 30s
FUZZMINIMIZETIME ?= 0
FUZZ ?= .
FUZZ_TMPDIR ?= $(if $(wildcard /dev/shm/.),/dev/shm,$(or $(TMPDIR),/tmp))
fuzz:
	@mkdir -p $(BIN)/fuzz; fail=0; \
	printf '%-28s %-24s %12s %10s  %s\n' TARGET PACKAGE EXECS ELAPSED RESULT; \
	for t in $$(grep -rH --include='*_test.go' --exclude-dir=.git --exclude-dir=.cache --exclude-dir=bin --exclude-dir=devnet --exclude-dir=testdata -E '^func Fuzz[A-Za-z0-9_]*\(' . | \
	    sed -E 's|^\./(.*)/[^/]*:func (Fuzz[A-Za-z0-9_]*)\(.*|\1:\2|' | sort -u); do \
	  pkg=$${t%%:*}; name=$${t##*:}; \
	  echo "$$name" | grep -Eq -- '$(FUZZ)' || continue; \
	  log=$(BIN)/fuzz/$$name.log; \
	  TMPDIR=$(FUZZ_TMPDIR) $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) ./$$pkg/ >$$log 2>&1; rc=$$?; \
	  execs=$$(sed -nE 's/^fuzz: elapsed: [^,]*, execs: ([0-9]+) .*/\1/p' $$log | tail -1); \
	  elapsed=$$(sed -nE 's/^fuzz: elapsed: ([^,]*), execs: .*/\1/p' $$log | tail -1); \
	  if [ $$rc -eq 0 ]; then res=ok; \
	  elif grep -q 'Failing input written' $$log; then res="CRASH: $$pkg/$$(grep -m1 'Failing input written' $$log | sed 's/.*written to //')"; fail=1; \
	  else res="FAILED (see $$log)"; fail=1; fi; \
	  printf '%-28s %-24s %12s %10s  %s\n' $$name $$pkg "$${execs:-0}" "$${elapsed:--}" "$$res"; \
	done; exit $$fail

lint:
	@test -z "$$(gofmt -l .)" || (echo "gofmt needs to run on:"; gofmt -l .; exit 1)
	$(GO) vet ./...

clean:
	rm -rf $(BIN) $(DEVNET)
