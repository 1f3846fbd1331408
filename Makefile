# catering-match: each target is a one-liner; `make help` lists them.
GO ?= go
KAFKA := bash integration/kafka/kafka.sh
KAFKA_BROKERS ?= 127.0.0.1:19092

.PHONY: help run build test test-kafka kafka-up kafka-down bench bench-peer lint fmt up down clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

run: ## run the service on its embedded broker (127.0.0.1:9092, data in ./data)
	$(GO) run ./cmd/catering-match

build: ## build both binaries into bin/
	$(GO) build -o bin/ ./cmd/...

test: ## all tests with the race detector, on the embedded broker
	$(GO) test -race ./...

test-kafka: ## the black-box suite on the real broker started by `make kafka-up`
	KAFKA_BROKERS=$(KAFKA_BROKERS) $(GO) test -race -count=1 -v -timeout 25m ./integration/...

kafka-up: ## fetch (once) and start Apache Kafka 4.1.1 on 127.0.0.1:19092, no Docker
	$(KAFKA) up

kafka-down: ## stop the broker started by kafka-up
	$(KAFKA) down

bench: ## EOS throughput, latency, restore and memory, as ratios to limits measured in the same run
	$(GO) run ./cmd/catering bench
bench-peer: ## catering-match vs a Kafka Streams peer on the real broker (BENCH_ORDERS=20000; see bench/peer.sh)
	bash bench/peer.sh

lint: ## gofmt and go vet
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "run: gofmt -w ."; exit 1; }
	$(GO) vet ./...

fmt: ## format the code
	gofmt -w .

up: ## docker compose: Kafka 4.1.1 and the service (needs a Docker engine)
	docker compose up -d --build

down: ## docker compose: stop and remove
	docker compose down -v

clean: ## remove built binaries and the embedded broker's data
	rm -rf bin data
