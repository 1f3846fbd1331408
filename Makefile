# catering-match: each target is a one-liner; `make help` lists them.
GO ?= go
KAFKA := bash integration/kafka/kafka.sh
KAFKA_BROKERS ?= 127.0.0.1:19092

.PHONY: help run build test test-kafka test-containers image kafka-up kafka-down bench bench-peer lint fmt up down clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-15s %s\n", $$1, $$2}'

run: ## run the service on its embedded broker (127.0.0.1:9092, data in ./data)
	$(GO) run ./cmd/catering-match

build: ## build both binaries into bin/
	$(GO) build -o bin/ ./cmd/...

test: ## all tests with the race detector, on the embedded broker
	$(GO) test -race ./...

test-kafka: ## the black-box suite on the real broker started by `make kafka-up`
	KAFKA_BROKERS=$(KAFKA_BROKERS) $(GO) test -race -count=1 -v -timeout 25m ./integration/...

test-containers: ## the black-box suite on testcontainers (podman's Docker API here), with the image and compose tests
	bash integration/containers/test.sh

image: ## build the service image (podman, local bases) as localhost/catering-match:dev
	bash integration/containers/podman.sh images

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

COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo docker compose || echo podman-compose)

up: ## compose: Kafka 4.1.1 and the service in containers (docker compose, else podman-compose)
	$(COMPOSE) up -d --build

down: ## compose: stop and remove, with the broker's volume
	$(COMPOSE) down -v

clean: ## remove built binaries and the embedded broker's data
	rm -rf bin data
