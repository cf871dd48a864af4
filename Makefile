# roomwarden: `make demo` and `make test` do all set-up on a fresh Debian machine.
SWIFT   ?= swift
PREFIX  ?= /usr/local
BIN      = .build/debug/roomwarden
RELEASE  = .build/release/roomwarden

.PHONY: all deps build release test demo bench clean check-install

all: build

# Installs libhiredis-dev and redis-server (with redis-cli, redis-benchmark)
# with apt-get when they are missing.
deps:
	@scripts/ensure-deps

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

# The test suite, after checking that install/uninstall work.
test: deps
	$(SWIFT) build --build-tests
	@scripts/check-install
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

# Shell completions and the man page, generated from the parser.
.PHONY: completions man install uninstall
completions: build
	$(BIN) --generate-completion-script bash > completions/roomwarden.bash
	$(BIN) --generate-completion-script zsh > completions/_roomwarden
	$(BIN) --generate-completion-script fish > completions/roomwarden.fish

MANPAGE = .build/plugins/GenerateManual/outputs/roomwarden/roomwarden.1
man: deps
	$(SWIFT) package plugin generate-manual --configuration release

# make install PREFIX=/usr/local (DESTDIR is honoured too).
install: release man
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions \
		$(DESTDIR)$(PREFIX)/share/zsh/site-functions \
		$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	install -m 755 $(RELEASE) $(DESTDIR)$(PREFIX)/bin/roomwarden
	install -m 644 $(MANPAGE) $(DESTDIR)$(PREFIX)/share/man/man1/roomwarden.1
	install -m 644 completions/roomwarden.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/roomwarden
	install -m 644 completions/_roomwarden $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_roomwarden
	install -m 644 completions/roomwarden.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/roomwarden.fish

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/roomwarden \
		$(DESTDIR)$(PREFIX)/share/man/man1/roomwarden.1 \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/roomwarden \
		$(DESTDIR)$(PREFIX)/share/zsh/site-functions/_roomwarden \
		$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/roomwarden.fish
