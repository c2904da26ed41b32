#!/bin/sh
# cross/build.sh TARGET — build the static release binary of sanctuary for one Pi target.
#
#   TARGET: arm-unknown-linux-musleabihf   Pi Zero / Zero W / 1 (ARMv6 hard-float; every 32-bit Pi)
#           armv7-unknown-linux-musleabihf Pi 2 / 3 / 4 / 5, 32-bit OS
#           aarch64-unknown-linux-musl     Pi 3 / 4 / 5 / Zero 2 W, 64-bit OS
#
# The binary lands in $CARGO_TARGET_DIR/TARGET/release/sanctuary
# (CARGO_TARGET_DIR defaults to target/cross, apart from the host build's target/).
#
# PI_ROUTE chooses how (default: auto):
#   offline  Debian's Rust + its std source, std rebuilt with -Zbuild-std, linked by zig
#            through cargo-zigbuild. Needs no internet beyond Debian and crates.io/PyPI;
#            cross/setup-offline.sh installs it (it is run here, and is quick when done).
#   rustup   rustup's prebuilt std for the target (`rustup target add`) + cargo zigbuild.
#   cross    cross-rs in docker/podman (`cargo install cross`), configured by cross/Cross.toml.
# auto = rustup if the target is already installed in rustup; else cross if `cross` is on PATH
# and a container engine answers; else offline on Debian (apt-get there); else rustup.
set -eu

target=${1:?usage: cross/build.sh TARGET}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"

PI_OPT=${PI_OPT:-/opt}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target/cross}"
route=${PI_ROUTE:-auto}

say() { echo "pi-build: $*" >&2; }

have() { command -v "$1" >/dev/null 2>&1; }

container_engine_ok() {
	{ have docker && docker info >/dev/null 2>&1; } || { have podman && podman info >/dev/null 2>&1; }
}

if [ "$route" = auto ]; then
	if have rustup && rustup target list --installed 2>/dev/null | grep -qx "$target"; then
		route=rustup
	elif have cross && container_engine_ok; then
		route=cross
	elif have apt-get && have dpkg-query; then
		route=offline
	elif have rustup; then
		route=rustup
	else
		say "no route: install rustup (https://rustup.rs) or see README.md ("Run it on a Raspberry Pi")"; exit 1
	fi
	say "PI_ROUTE=auto -> $route"
fi

# Size-tuned release settings. They belong in Cargo.toml's [profile.release]; until the
# crate has that section, pass them through the environment so the binaries are the same.
if ! grep -q '^\[profile\.release\]' Cargo.toml; then
	export CARGO_PROFILE_RELEASE_OPT_LEVEL="${CARGO_PROFILE_RELEASE_OPT_LEVEL:-s}"
	export CARGO_PROFILE_RELEASE_LTO="${CARGO_PROFILE_RELEASE_LTO:-true}"
	export CARGO_PROFILE_RELEASE_CODEGEN_UNITS="${CARGO_PROFILE_RELEASE_CODEGEN_UNITS:-1}"
	export CARGO_PROFILE_RELEASE_PANIC="${CARGO_PROFILE_RELEASE_PANIC:-abort}"
	export CARGO_PROFILE_RELEASE_STRIP="${CARGO_PROFILE_RELEASE_STRIP:-true}"
fi

# No unwind tables: the release profile aborts on panic and the binary is stripped, so
# nothing would read them (-140 KB of .eh_frame on x86_64, all routes).
export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-C force-unwind-tables=no"
case $route in
offline)
	"$here/setup-offline.sh"
	# Debian's cargo and rustc BEFORE rustup's (~/.cargo/bin): the std source in
	# /usr/lib/rustlib/src/rust only builds with the very same compiler.
	PATH="$PI_OPT/cargo-zigbuild/bin:$PI_OPT/zig/bin:/usr/bin:/bin:$PATH"
	export PATH
	export RUSTC=/usr/bin/rustc CARGO=/usr/bin/cargo
	unset RUSTUP_TOOLCHAIN RUSTC_WRAPPER 2>/dev/null || true
	export RUSTC_BOOTSTRAP=1   # -Zbuild-std on a stable compiler
	# zig brings its own crt1.o and musl; rustc's self-contained copies are not shipped here.
	export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-C link-self-contained=no"
	# std without its default features: no unwinder for panics (the release profile
	# aborts) and no backtrace symboliser (the binary is stripped: it had nothing to
	# show); a panic still prints its message: -180 KB on x86_64. optimize_for_size
	# picks std's smaller algorithms (sorting, formatting) where there is a choice:
	# -10 KB, nothing on the hot path.
	set -x
	/usr/bin/cargo zigbuild --release --locked -Zbuild-std=std,panic_abort \
		-Zbuild-std-features=optimize_for_size --target "$target"
	;;
rustup)
	if ! rustup target list --installed | grep -qx "$target"; then
		rustup target add "$target"
	fi
	# cargo-zigbuild and zig: on PATH, or where cross/setup-offline.sh puts them.
	PATH="$PATH:$PI_OPT/cargo-zigbuild/bin"
	if ! have zig; then
		if [ -x "$PI_OPT/zig/bin/python3" ]; then PATH="$PATH:$PI_OPT/zig/bin"
		elif ! python3 -c 'import ziglang' 2>/dev/null; then
			say "zig not found: pip install ziglang (or install zig)"; exit 1
		fi
	fi
	export PATH
	have cargo-zigbuild || { say "cargo-zigbuild not found: cargo install --locked cargo-zigbuild"; exit 1; }
	set -x
	cargo zigbuild --release --locked --target "$target"
	;;
cross)
	have cross || { say "cross not found: cargo install cross --git https://github.com/cross-rs/cross"; exit 1; }
	export CROSS_CONFIG="$here/Cross.toml"
	set -x
	cross build --release --locked --target "$target"
	;;
*)
	say "PI_ROUTE must be offline, rustup, cross or auto (got '$route')"; exit 1
	;;
esac
