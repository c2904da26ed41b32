# The two commands the README promises: `make run` and `make test`.
# Pi cross-builds live in cross/pi.mk, browser tests in tests/browser/browser.mk.

CARGO ?= cargo
ARGS ?=

# Included first: they add their suites to TEST_EXTRA before `test` reads it.
-include cross/pi.mk
-include tests/browser/browser.mk
-include bench/bench.mk

.PHONY: run build test test-rust lint fmt

run:
	$(CARGO) run --release -- $(ARGS)

build:
	$(CARGO) build --release

# Everything CI checks: formatting, lints, unit + integration tests, then the
# browser and Pi suites that their own makefiles add to TEST_EXTRA.
test: lint test-rust $(TEST_EXTRA)

test-rust:
	$(CARGO) test

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

fmt:
	$(CARGO) fmt

