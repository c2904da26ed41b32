# The two commands the README promises: `make run` and `make test`.
# Pi cross-builds live in cross/pi.mk, browser tests in tests/browser/browser.mk.

CARGO ?= cargo
ARGS ?=

# Included first: they add their suites to TEST_EXTRA before `test` reads it.
-include cross/pi.mk
-include tests/browser/browser.mk
-include bench/bench.mk
# `make soak` and `make fuzz`: the hardening tests at long counts (not part of `test`).
-include tests/soak.mk

.PHONY: run build setup test test-rust lint fmt

# Needs nothing but Rust's cargo: no setup step, on purpose.
run:
	@command -v $(CARGO) >/dev/null 2>&1 || { echo "make run needs Rust's cargo: install it from https://rustup.rs"; exit 1; }
	$(CARGO) run --release -- $(ARGS)

build:
	$(CARGO) build --release

# Installs what `make test` needs and the machine lacks (Chromium, Node, qemu, the Pi
# toolchain, ...; see scripts/setup); under a second when all is there.
setup:
	@scripts/setup

# Everything CI checks: formatting, lints, unit + integration tests, then the
# browser and Pi suites that their own makefiles add to TEST_EXTRA. Make takes the
# prerequisites in order, so setup comes first.
test: setup lint test-rust $(TEST_EXTRA)

test-rust:
	$(CARGO) test

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

fmt:
	$(CARGO) fmt

