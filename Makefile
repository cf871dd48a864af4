# roomwarden: `make demo` and `make test` do all set-up on a fresh Debian machine.
SWIFT   ?= swift
PREFIX  ?= /usr/local
BIN      = .build/debug/roomwarden
RELEASE  = .build/release/roomwarden
MANPAGE  = .build/man/roomwarden.1
DIST     = dist

# The shipped binary runs without the Swift toolchain: the Swift runtime is
# linked in (--static-swift-stdlib), no $ORIGIN runpath, and lld packs the
# relative relocations, folds identical code and strips it. It needs only
# libhiredis, libc, libm, libstdc++ and libgcc (scripts/check-portable).
# Concrete generic types get direct metadata accessors instead of mangled
# names: no demangling and no conformance search for them at start-up
# (15% fewer instructions for a one-shot publish). -Osize keeps the binary
# under 15 MB (scripts/check-deb); it measured 0.23 MB smaller than -O.
# --no-export-dynamic: an executable exports no symbols (the modules' public
# API was in its dynamic symbol table: 3,068 symbols, 0.28 MB).
RELEASE_FLAGS = -c release --static-swift-stdlib --disable-local-rpath -Xswiftc -Osize \
	-Xswiftc -Xfrontend -Xswiftc -disable-concrete-type-metadata-mangled-name-accessors \
	-Xswiftc -use-ld=lld -Xlinker -z -Xlinker pack-relative-relocs \
	-Xlinker --icf=all -Xlinker --strip-all -Xlinker --no-export-dynamic

.PHONY: all deps build release test demo bench clean check-install deb man

all: build

# Installs libhiredis-dev, redis-server (with redis-cli, redis-benchmark),
# man-db and groff with apt-get when they are missing.
deps:
	@scripts/ensure-deps

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build $(RELEASE_FLAGS)

# The test suite, after checking install/uninstall, the .deb and that the
# shipped binary runs with the toolchain out of reach.
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) build $(RELEASE_FLAGS)
	@scripts/check-install
	@$(MAKE) --no-print-directory deb >/dev/null
	@scripts/check-deb $(DIST)/roomwarden_*_$$(dpkg --print-architecture).deb
	$(SWIFT) test

# A scratch redis-server, a small chat, and the tool at work; stops the server.
demo: build
	@scripts/demo $(BIN)

# Measures roomwarden beside redis-cli on a scratch server; writes BENCHMARKS.md.
# BENCH="startup publish" picks sections (default: all).
bench: release
	@scripts/ensure-deps bench
	@python3 scripts/bench.py $(RELEASE) $(BENCH)

clean:
	rm -rf .build $(DIST)

# Shell completions, generated from the parser (a test checks they match).
.PHONY: completions install uninstall
completions: build
	$(BIN) --generate-completion-script bash > completions/roomwarden.bash
	$(BIN) --generate-completion-script zsh > completions/_roomwarden
	$(BIN) --generate-completion-script fish > completions/roomwarden.fish

# The man page is docs/roomwarden.1, written by hand (a test checks it
# against every --help); this dates it from SOURCE_DATE_EPOCH when set.
man: $(MANPAGE)
$(MANPAGE): docs/roomwarden.1 scripts/build-man
	@scripts/build-man docs/roomwarden.1 $@

# dist/roomwarden_<version>_<arch>.deb, built with dpkg-deb.
deb: release man
	@scripts/build-deb $(RELEASE) $(MANPAGE) $(DIST)

# make install PREFIX=/usr/local (DESTDIR is honoured too).
install: release man
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions \
		$(DESTDIR)$(PREFIX)/share/zsh/site-functions \
		$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d \
		$(DESTDIR)$(PREFIX)/share/doc/roomwarden
	install -m 755 $(RELEASE) $(DESTDIR)$(PREFIX)/bin/roomwarden
	install -m 644 $(MANPAGE) $(DESTDIR)$(PREFIX)/share/man/man1/roomwarden.1
	install -m 644 completions/roomwarden.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/roomwarden
	install -m 644 completions/_roomwarden $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_roomwarden
	install -m 644 completions/roomwarden.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/roomwarden.fish
	install -m 644 README.md docs/contract.md $(DESTDIR)$(PREFIX)/share/doc/roomwarden/

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/roomwarden \
		$(DESTDIR)$(PREFIX)/share/man/man1/roomwarden.1 \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/roomwarden \
		$(DESTDIR)$(PREFIX)/share/zsh/site-functions/_roomwarden \
		$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/roomwarden.fish \
		$(DESTDIR)$(PREFIX)/share/doc/roomwarden/README.md \
		$(DESTDIR)$(PREFIX)/share/doc/roomwarden/contract.md
	-rmdir $(DESTDIR)$(PREFIX)/share/doc/roomwarden 2>/dev/null
