# Raspberry Pi cross-builds, release files, packages and their proofs (issue 4).
# Included by the top-level Makefile. See README.md ("Run it on a Raspberry Pi").
#
#   make pi-zero        ARMv6 hard-float static binary (Pi Zero / Zero W / 1; every 32-bit Pi)
#   make armhf          ARMv7 (Pi 2/3/4/5 with a 32-bit OS)
#   make aarch64        ARMv8 64-bit (Pi 3/4/5/Zero 2 W with a 64-bit OS)
#   make dist           all three into dist/sanctuary-VERSION-TARGET + dist/SHA256SUMS
#   make deb            dist/sanctuary_VERSION_armhf.deb (ARMv6 binary) and _arm64.deb
#   make test-pi        ARMv6 binary: static ARM EABI5, Tag_CPU_arch v6, protocol smoke
#                       test under qemu-arm -cpu arm1176 (a Pi Zero's CPU)
#   make test-pi-all    test-pi + armhf under qemu-arm -cpu cortex-a7 + aarch64 under qemu-aarch64
#   make test-deb       build the packages and check them (dpkg-deb, a scratch-root dpkg install)
#   make test-deb-armhf the same for the armhf package only (what `make test` runs)
#   make pi-setup       install the offline route's toolchain (cross/setup-offline.sh)
#
# PI_ROUTE=offline|rustup|cross|auto (default auto) chooses how to build: see cross/build.sh.
# Cross builds use their own target directory (PI_TARGET_DIR, default target/cross), so they
# never wait on, or invalidate, the host build in target/.

# Keep the top-level Makefile's first target (`run`) the default goal.
pi_saved_default_goal := $(.DEFAULT_GOAL)

PI_ROUTE ?= auto
PI_TARGET_DIR ?= target/cross
PI_DIST ?= dist
PYTHON ?= python3
PI_VERSION := $(shell sed -n 's/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml | head -n 1)

PI_ARMV6 := arm-unknown-linux-musleabihf
PI_ARMV7 := armv7-unknown-linux-musleabihf
PI_ARM64 := aarch64-unknown-linux-musl
PI_TARGETS := $(PI_ARMV6) $(PI_ARMV7) $(PI_ARM64)

pi_bin = $(PI_TARGET_DIR)/$(1)/release/sanctuary
pi_build = PI_ROUTE=$(PI_ROUTE) CARGO_TARGET_DIR=$(abspath $(PI_TARGET_DIR)) cross/build.sh $(1)
pi_qemu_$(PI_ARMV6) := qemu-arm -cpu arm1176
pi_qemu_$(PI_ARMV7) := qemu-arm -cpu cortex-a7
pi_qemu_$(PI_ARM64) := qemu-aarch64 -cpu cortex-a53
# A protocol smoke test of one built target under qemu-user (20 clients for the RSS figure).
pi_smoke = cross/check-elf.sh $(1) $(call pi_bin,$(1)) && \
	$(PYTHON) cross/smoke.py --clients 20 -- $(pi_qemu_$(1)) $(call pi_bin,$(1))

TEST_EXTRA += test-pi test-deb-armhf

.PHONY: pi-zero armhf aarch64 dist deb deb-armhf deb-arm64 test-pi test-pi-all test-deb test-deb-armhf pi-setup pi-clean

pi-setup:
	cross/setup-offline.sh

pi-zero:
	$(call pi_build,$(PI_ARMV6))

armhf:
	$(call pi_build,$(PI_ARMV7))

aarch64:
	$(call pi_build,$(PI_ARM64))

# One cross build at a time (each already uses every core), hence a loop, not prerequisites.
dist:
	@set -e; for t in $(PI_TARGETS); do \
		echo "== $$t"; start=$$(date +%s); \
		$(call pi_build,$$t); \
		echo "== $$t built in $$(( $$(date +%s) - start ))s"; \
	done
	cross/dist.sh $(PI_DIST) $(PI_VERSION) $(foreach t,$(PI_TARGETS),$(t)=$(call pi_bin,$(t)))

deb: deb-armhf deb-arm64

deb-armhf: pi-zero
	cross/mkdeb.sh armhf $(call pi_bin,$(PI_ARMV6)) $(PI_VERSION) $(PI_DIST)
	cross/dist.sh $(PI_DIST) $(PI_VERSION)

deb-arm64: aarch64
	cross/mkdeb.sh arm64 $(call pi_bin,$(PI_ARM64)) $(PI_VERSION) $(PI_DIST)
	cross/dist.sh $(PI_DIST) $(PI_VERSION)

test-pi: pi-zero
	$(call pi_smoke,$(PI_ARMV6))
	PYTHON=$(PYTHON) cross/check-syscalls.sh $(call pi_bin,$(PI_ARMV6))

test-pi-all: test-pi
	$(call pi_build,$(PI_ARMV7))
	$(call pi_smoke,$(PI_ARMV7))
	$(call pi_build,$(PI_ARM64))
	$(call pi_smoke,$(PI_ARM64))

test-deb: deb
	cross/test-deb.sh $(PI_DIST)/sanctuary_$(PI_VERSION)_armhf.deb $(PI_DIST)/sanctuary_$(PI_VERSION)_arm64.deb

# What `make test` runs: the armhf package only, from the ARMv6 binary test-pi builds anyway
# (the arm64 package differs only in its binary and Architecture field, and would cost CI a
# whole extra aarch64 build). `make test-deb` checks both.
test-deb-armhf: deb-armhf
	cross/test-deb.sh $(PI_DIST)/sanctuary_$(PI_VERSION)_armhf.deb

pi-clean:
	rm -rf $(PI_TARGET_DIR) $(PI_DIST)

.DEFAULT_GOAL := $(pi_saved_default_goal)
