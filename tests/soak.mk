# Long runs of the hardening tests (issue 10), included by the top-level Makefile.
# Neither is part of `make test`, which runs the same tests at their short counts.
#
#   make soak   tests/hostile_http.rs's reset burst at ten times its count
#               (SANCTUARY_BURST_ROUNDS=200: 40,000 reset connections) and
#               tests/churn.rs at SOAK_CHURN_CYCLES join/leave cycles (default 50,000)
#   make fuzz   tests/fuzz.rs with every count multiplied by FUZZ_TIMES (default 20)
#
# Both run the debug test build `make test` already has: its overflow checks turn an
# arithmetic slip into a failing test rather than a wrapped number.

CARGO ?= cargo
SOAK_BURST_ROUNDS ?= 200
SOAK_CHURN_CYCLES ?= 50000
FUZZ_TIMES ?= 20

.PHONY: soak fuzz

soak:
	SANCTUARY_BURST_ROUNDS=$(SOAK_BURST_ROUNDS) $(CARGO) test --test hostile_http \
		a_burst_of_reset_connections -- --nocapture
	SANCTUARY_CHURN_CYCLES=$(SOAK_CHURN_CYCLES) $(CARGO) test --test churn -- --nocapture

fuzz:
	SANCTUARY_FUZZ_ITERATIONS=$(FUZZ_TIMES) $(CARGO) test --test fuzz -- --nocapture
