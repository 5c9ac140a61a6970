# Weft — developer entry points. See README.md.
GO      ?= go
BIN     := bin
DEVNET  ?= devnet
BENCH_TXS ?= 20000

.PHONY: build run test bench lint clean

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/... ./samples/basic

run: build
	./$(BIN)/weft up --dir $(DEVNET)

test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

bench: build
	$(GO) test -run '^$$' -bench 'Commit|Validate|Ledger|ECDSA' -benchtime 5x ./bench/
	$(GO) test -run '^$$' -bench ChaincodePut -benchtime 3000x ./bench/
	./$(BIN)/weft bench --devnet --txs $(BENCH_TXS)

lint:
	@test -z "$$(gofmt -l .)" || (echo "gofmt needs to run on:"; gofmt -l .; exit 1)
	$(GO) vet ./...

clean:
	rm -rf $(BIN) $(DEVNET)
