# Weft — developer entry points. See README.md.
GO      ?= go
BIN     := bin
DEVNET  ?= devnet

.PHONY: build run test bench lint clean

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/... ./samples/basic

run: build
	./$(BIN)/weft up --dir $(DEVNET)

test:
	$(GO) vet ./...
	$(GO) test -race -timeout 20m ./...

bench: build
	$(GO) test -run '^$$' -bench . -benchtime 1x ./bench/... ./peer/validator/...

lint:
	@test -z "$$(gofmt -l .)" || (echo "gofmt needs to run on:"; gofmt -l .; exit 1)
	$(GO) vet ./...

clean:
	rm -rf $(BIN) $(DEVNET)
