#!/bin/sh
# cross/check-elf.sh TARGET BINARY — prove BINARY is what TARGET promises:
# a static (no interpreter, no dynamic section), stripped ELF for the right CPU.
#   arm-unknown-linux-musleabihf:   ARM EABI5, Tag_CPU_arch: v6, VFPv2 (Pi Zero / 1),
#                                   at most PI_SIZE_BUDGET bytes (default 1.5 MiB)
#   armv7-unknown-linux-musleabihf: ARM EABI5, Tag_CPU_arch: v7
#   aarch64-unknown-linux-musl:     ELF 64-bit ARM aarch64
set -eu
target=$1
bin=$2
fail() { echo "check-elf: $bin: $*" >&2; exit 1; }

[ -f "$bin" ] || fail "missing"
desc=$(file -b "$bin")
attrs=$(readelf -A "$bin" 2>/dev/null || true)
echo "$bin: $desc"

case $desc in
*"statically linked"* | *"static-pie linked"*) ;;
*) fail "not statically linked" ;;
esac
case $desc in
*"not stripped"* | *"with debug_info"*) fail "not stripped" ;;
*stripped*) ;;
*) fail "not stripped" ;;
esac
readelf -lW "$bin" | grep -q 'INTERP' && fail "has a program interpreter"
readelf -dW "$bin" | grep -q 'NEEDED' && fail "needs shared libraries"

attr() { printf '%s\n' "$attrs" | sed -n "s/^ *$1: //p"; }

case $target in
arm-unknown-linux-musleabihf)
	case $desc in "ELF 32-bit LSB executable, ARM, EABI5"*) ;; *) fail "not a 32-bit ARM EABI5 executable" ;; esac
	[ "$(attr Tag_CPU_arch)" = v6 ] || fail "Tag_CPU_arch is '$(attr Tag_CPU_arch)', want v6 (Pi Zero/1 run ARMv6 only)"
	[ -z "$(attr Tag_CPU_arch_profile)" ] || fail "has a v7 profile tag"
	[ "$(attr Tag_THUMB_ISA_use)" != Thumb-2 ] || fail "uses Thumb-2 (ARMv7)"
	[ "$(attr Tag_FP_arch)" = VFPv2 ] || fail "Tag_FP_arch is '$(attr Tag_FP_arch)', want VFPv2"
	[ "$(attr Tag_ABI_VFP_args)" = "VFP registers" ] || fail "not hard-float"
	# The size budget of the Pi Zero binary (issue 4): 1.5 MiB.
	budget=${PI_SIZE_BUDGET:-1572864}
	size=$(wc -c <"$bin")
	[ "$size" -le "$budget" ] || fail "$size bytes, over the budget of $budget bytes (PI_SIZE_BUDGET)"
	;;
armv7-unknown-linux-musleabihf)
	case $desc in "ELF 32-bit LSB executable, ARM, EABI5"*) ;; *) fail "not a 32-bit ARM EABI5 executable" ;; esac
	[ "$(attr Tag_CPU_arch)" = v7 ] || fail "Tag_CPU_arch is '$(attr Tag_CPU_arch)', want v7"
	[ "$(attr Tag_ABI_VFP_args)" = "VFP registers" ] || fail "not hard-float"
	;;
aarch64-unknown-linux-musl)
	case $desc in "ELF 64-bit LSB "*"ARM aarch64"*) ;; *) fail "not a 64-bit ARM aarch64 executable" ;; esac
	;;
*) fail "unknown target $target" ;;
esac
[ -z "$attrs" ] || printf '%s\n' "$attrs" | grep -E 'Tag_(CPU_arch|THUMB_ISA_use|FP_arch|ABI_VFP_args):' | sed 's/^ */  /'
echo "check-elf: $target: ok ($(wc -c <"$bin") bytes)"
