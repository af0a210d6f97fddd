# Portcullis: build, test and run. Every target installs the Debian packages it needs.
SWIFT ?= $(shell command -v swift || echo /opt/swift/usr/bin/swift)
# What the build and the tests need from Debian (the Swift toolchain itself is not a Debian package).
PACKAGES := cmake gcc make libssl-dev dpkg-dev xz-utils patch openssh-client libcmocka-dev \
            curl netcat-openbsd python3 python3-venv util-linux

.PHONY: all deps libssh build deb test-deb test-unit-file test test-libssh test-build-script test-swift test-fuzz test-stress test-adversarial test-bench-quick fuzz run clean

all: build

deps:
	@scripts/ensure-packages $(PACKAGES)

# The patched, static libssh (Deploy/libssh); does nothing when it is already built.
libssh: deps
	@Deploy/libssh/build.sh

# SwiftPM does not see libssh.a change (it is linked by path): relink when it is newer.
# The Swift runtime and Foundation are linked in (--static-swift-stdlib), so the binaries the
# tests run are the ones `make deb` ships, which run on a Debian without the Swift toolchain;
# -z now: full RELRO (the GOT read-only once loaded).
build: libssh
	@scripts/relink-if-libssh-changed release
	$(SWIFT) build -c release --static-swift-stdlib -Xlinker -z -Xlinker now

# The Debian package (scripts/build-deb): .build-deb/portcullis_VERSION-1_ARCH.deb, lintian-clean;
# test-deb installs it into a debootstrapped bookworm and follows README "Deploy on a real host",
# then boots that root with systemd (systemd-nspawn) and uses the unit for real.
deb: build
	@scripts/build-deb

test-deb: deb
	@Tests/deploy/chroot-test
	@Tests/deploy/nspawn-test

# Deploy/systemd/portcullisd.service: verify, exposure <= 2.0, the daemon's calls within its filters.
test-unit-file: build
	@scripts/ensure-packages strace systemd openssh-client
	@Tests/deploy/unit-test

# Installs the release build, man pages, completions, unit, logrotate, fail2ban filter and jail and
# the starter config (kept if present) under DESTDIR+PREFIX (default /usr/local); SBINDIR, BINDIR,
# MANDIR, DATADIR, SYSCONFDIR, SYSTEMDUNITDIR override the directories (scripts/install). Creates
# no user, starts nothing. `make uninstall` with the same variables removes it all but the config.
INSTALL_VARS = $(foreach v,DESTDIR PREFIX SBINDIR BINDIR MANDIR DATADIR SYSCONFDIR SYSTEMDUNITDIR,$(v)='$($(v))')
.PHONY: install uninstall test-install
install: build
	@$(INSTALL_VARS) scripts/install

uninstall:
	@$(INSTALL_VARS) scripts/install --uninstall

# Everything: libssh's regression tests for the project's patches, the build script's own
# behaviour, then the Swift tests (unit and end-to-end against the stock ssh client), then each
# fuzz harness for a few seconds (Fuzz/), then the stress suite (a hostile, busy client
# population against the release daemon: Tests/stress), then
# the adversarial suite (a raw client sending malformed and abusive requests: Tests/adversarial), then
# the benchmark harness in its quick mode (every case must still produce sane numbers; no targets),
# then make install's checks, the systemd unit's checks and the Debian package in a throwaway
# bookworm (Tests/deploy).
test: deps test-libssh test-build-script test-swift test-fuzz test-stress test-adversarial test-bench-quick test-install test-unit-file test-deb

test-libssh: deps
	@Deploy/libssh/build.sh --test

test-build-script: libssh
	@Tests/build/libssh-build.sh

test-swift: libssh
	@scripts/relink-if-libssh-changed debug
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

# libFuzzer harnesses (Fuzz/README.md): the patched libssh's global-request and channel-open
# parsers, the config loader, path patterns, globs, address and port patterns. `make fuzz` runs
# each for FUZZ_SECONDS (default 60) and keeps what it finds in .build-fuzz/corpus; test-fuzz runs
# each for 5 s from the committed corpus only, so the harnesses cannot rot. Both hold libssh to
# patch 0017's strict decoding (PORTCULLIS_FUZZ_STRICT=1): a regression fails, never hides.
FUZZ_SECONDS ?= 60
fuzz: libssh
	@SWIFT=$(SWIFT) FUZZ_SECONDS=$(FUZZ_SECONDS) PORTCULLIS_FUZZ_STRICT=1 Fuzz/run

test-fuzz: libssh
	@SWIFT=$(SWIFT) FUZZ_SECONDS=5 PORTCULLIS_FUZZ_STRICT=1 Fuzz/run --smoke

# Churn, hang-ups, bursts, a window-ignoring client, a black-hole resolver, the descriptor limit,
# idle pre-auth connections, truncation (Tests/stress/README.md); pytest and paramiko in a venv.
test-stress: build
	@Tests/stress/run

# NUL bytes, wrapped ports, malformed opens, auth abuse, floods, torn logs, hostile config files:
# each must get its refusal (Tests/adversarial/run; shares the stress suite's venv and fixtures).
test-adversarial: build
	@Tests/adversarial/run

# Benchmarks/run --quick: installs openssh-server (never started as a service), builds in release.
test-bench-quick: libssh
	@Benchmarks/run --quick

# make install into temporary roots (PREFIX=/usr and /usr/local): the exact files and modes, a kept
# config, the installed daemon runs, uninstall; the man pages lint clean and document every setting;
# the completions parse (Tests/deploy).
test-install: build
	@Tests/deploy/test_install.sh

# Starts the daemon on 127.0.0.1:2222 with a generated host key and the demo config, and prints
# the ssh commands to try (scripts/run-demo).
run: build
	@scripts/run-demo $(if $(RESET),--reset)

clean:
	rm -rf .build .build-libssh
