#!/bin/sh
# Install what the offline Pi cross-build route needs (see README.md ("Run it on a Raspberry Pi")):
#   Debian's Rust 1.96 + its std source (rustc-web cargo-web rust-web-src),
#   zig (linker + musl for each CPU) in a Python venv, cargo-zigbuild,
#   and the tools the proofs use (qemu-user, binutils' readelf, file).
#
# Idempotent: when everything is in place it only checks (well under a second)
# and changes nothing. Needs root (or sudo) only when something is missing.
#
#   cross/setup-offline.sh           check, install what is missing
#   cross/setup-offline.sh --check   check only; exit 1 and say what is missing
#
# Environment: PI_OPT (default /opt) is where the zig venv and cargo-zigbuild go:
#   $PI_OPT/zig/bin/python3 -m ziglang     $PI_OPT/cargo-zigbuild/bin/cargo-zigbuild
set -eu

ZIG_VERSION=0.17.1
CZB_VERSION=0.24.1
PI_OPT=${PI_OPT:-/opt}
PKGS="rustc-web cargo-web rust-web-src qemu-user binutils file"

check_only=0
[ "${1:-}" = "--check" ] && check_only=1

say() { echo "setup-offline: $*" >&2; }

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"
	elif command -v sudo >/dev/null 2>&1; then sudo "$@"
	else say "need root for: $*"; exit 1
	fi
}

pkg_version() { dpkg-query -W -f='${Status} ${Version}' "$1" 2>/dev/null | sed -n 's/^install ok installed //p'; }

# 1. Debian packages. rustc-web and rust-web-src must be the very same version:
#    a std source that does not match the compiler does not build.
missing=""
for p in $PKGS; do
	[ -n "$(pkg_version "$p")" ] || missing="$missing $p"
done
if [ -z "$missing" ] && [ "$(pkg_version rustc-web)" != "$(pkg_version rust-web-src)" ]; then
	missing=" rustc-web cargo-web rust-web-src"
fi
if [ -n "$missing" ]; then
	if [ $check_only = 1 ]; then say "missing Debian packages:$missing"; exit 1; fi
	command -v apt-get >/dev/null 2>&1 || { say "no apt-get: the offline route needs Debian 12+ (or use PI_ROUTE=rustup|cross)"; exit 1; }
	say "installing$missing"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
	# shellcheck disable=SC2086
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $PKGS >/dev/null
fi

# 2. zig, from PyPI's ziglang wheel, in its own venv.
zig_ok() { [ "$("$PI_OPT/zig/bin/python3" -m ziglang version 2>/dev/null)" = "$ZIG_VERSION" ]; }
if ! zig_ok; then
	if [ $check_only = 1 ]; then say "missing zig $ZIG_VERSION in $PI_OPT/zig"; exit 1; fi
	say "installing zig $ZIG_VERSION into $PI_OPT/zig"
	# Debian's python3, not one from PATH: a venv links to its Python, and one under
	# root's home (pyenv) would leave zig unusable to everyone else.
	if ! { [ -x "$PI_OPT/zig/bin/pip" ] || /usr/bin/python3 -m venv "$PI_OPT/zig" 2>/dev/null; }; then
		# Debian's python3 has no venv module until python3-venv is installed.
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-venv >/dev/null
		rm -rf "$PI_OPT/zig"
		/usr/bin/python3 -m venv "$PI_OPT/zig"
	fi
	"$PI_OPT/zig/bin/pip" install -q --disable-pip-version-check "ziglang==$ZIG_VERSION"
	zig_ok || { say "zig install failed"; exit 1; }
fi

# 3. cargo-zigbuild, built with Debian's cargo (there may be no other cargo).
czb_ok() { [ "$("$PI_OPT/cargo-zigbuild/bin/cargo-zigbuild" --version 2>/dev/null)" = "cargo-zigbuild $CZB_VERSION" ]; }
if ! czb_ok; then
	if [ $check_only = 1 ]; then say "missing cargo-zigbuild $CZB_VERSION in $PI_OPT/cargo-zigbuild"; exit 1; fi
	say "installing cargo-zigbuild $CZB_VERSION into $PI_OPT/cargo-zigbuild (about a minute)"
	RUSTC=/usr/bin/rustc /usr/bin/cargo install -q --locked --root "$PI_OPT/cargo-zigbuild" "cargo-zigbuild@$CZB_VERSION"
	czb_ok || { say "cargo-zigbuild install failed"; exit 1; }
fi

say "ready: $(/usr/bin/rustc --version | cut -d' ' -f1-2), zig $ZIG_VERSION, cargo-zigbuild $CZB_VERSION"
