# roomwarden: `make demo` and `make test` do all set-up on a fresh Debian machine.
SWIFT   ?= swift
PREFIX  ?= /usr/local
BIN      = .build/debug/roomwarden
RELEASE  = .build/release/roomwarden

.PHONY: all deps build release test demo bench clean

all: build

# Installs libhiredis-dev and redis-server (with redis-cli, redis-benchmark)
# with apt-get when they are missing.
deps:
	@scripts/ensure-deps

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test

# A scratch redis-server, a small chat, and the tool at work; stops the server.
demo: build
	@scripts/demo $(BIN)

# Measures roomwarden beside redis-cli on a scratch server; writes BENCHMARKS.md.
# BENCH="publish watch" picks sections (default: all).
bench: release
	@scripts/ensure-deps bench
	@python3 scripts/bench.py $(RELEASE) $(BENCH)

clean:
	rm -rf .build
