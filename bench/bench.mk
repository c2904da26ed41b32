# Benchmarks (issue 5), included by the top-level Makefile.
#
#   make bench        footprint, start-up, fan-out, latency and many rooms of the
#                     static musl x86_64 release server (built by cross/build.sh, as
#                     the Pi binaries are: the form we ship; a dynamic glibc build
#                     carries ~2.8 MiB of libc/ld.so pages in its RSS), each figure repeated (BENCH_RUNS, default 5: ratios to the floor are noisier than RSS),
#                     server and load generator pinned to different CPUs when there
#                     are two (sched_setaffinity, as taskset does); rewrites
#                     bench/results.json, bench/RESULTS.md, bench/latency.svg and
#                     bench/README-section.md, and exits non-zero naming every
#                     budget missed (budgets are enforced on x86_64 only).
#                     CPU per delivery is judged as a ratio to a floor measured in
#                     the same round on the server's CPU (the simplest sender: one
#                     thread, the server's encoded frame, one send() per member to
#                     as many loopback receivers; examples/loadgen/floor.rs):
#                     room of 100 <= 1.2x, 50 rooms of 10 <= 1.5x. RSS stays in KiB.
#   make bench-slow   the same on a simulated second machine whose system calls cost
#                     more: every system call of the server, the floor's sender and the
#                     clients first runs BENCH_SLOW_TAX seccomp BPF instructions in the
#                     kernel (examples/loadgen/slowsys.rs; 32,000, near the kernel's limit, makes the floor's send()
#                     about 3x dearer here); writes bench/slow/ and the "Two machines"
#                     comparison at the end of bench/RESULTS.md; exits non-zero on the
#                     same budgets.
#   make bench-smoke  a few seconds: every client connected, zero losses; no speed
#                     judged. Part of `make test`.
#   make bench-dynamic the same against the ordinary (glibc, dynamic) release build,
#                     for comparison; its idle RSS misses the 2 MiB budget by design.
#
# BENCH_SERVER picks the binary of bench-dynamic and bench-smoke, BENCH_RUNS the runs per figure, and
# BENCH_ARGS passes more flags to the load generator (see its --help).
#
# The load generator is examples/loadgen.rs (one thread, epoll, real protocol-v1
# clients); it starts the server itself, on 127.0.0.1 only.

CARGO ?= cargo
BENCH_RUNS ?= 5
BENCH_SLOW_TAX ?= 32000
BENCH_ARGS ?=
BENCH_SERVER ?= target/release/sanctuary
BENCH_STATIC_SERVER := target/cross/x86_64-unknown-linux-musl/release/sanctuary
BENCH_LOADGEN := target/release/examples/loadgen

.PHONY: bench bench-slow bench-static bench-dynamic bench-smoke bench-build

bench-build:
	$(CARGO) build --release --bin sanctuary --example loadgen

bench-static: bench-build
	CARGO_TARGET_DIR=$(abspath target/cross) cross/build.sh x86_64-unknown-linux-musl

bench: bench-static
	$(BENCH_LOADGEN) --server $(BENCH_STATIC_SERVER) --runs $(BENCH_RUNS) --out bench $(BENCH_ARGS)

bench-slow: bench-static
	$(BENCH_LOADGEN) --server $(BENCH_STATIC_SERVER) --runs $(BENCH_RUNS) --out bench/slow \
		--syscall-tax $(BENCH_SLOW_TAX) $(BENCH_ARGS)

bench-dynamic: bench-build
	$(BENCH_LOADGEN) --server $(BENCH_SERVER) --runs $(BENCH_RUNS) --out bench $(BENCH_ARGS)

bench-smoke: bench-build
	$(CARGO) test --quiet --example loadgen
	$(BENCH_LOADGEN) --server $(BENCH_SERVER) --smoke

TEST_EXTRA += bench-smoke
