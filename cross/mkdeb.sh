#!/bin/sh
# cross/mkdeb.sh DEB_ARCH BINARY VERSION OUTDIR — a Debian package of a static binary.
#
#   armhf: carries the ARMv6 binary (arm-unknown-linux-musleabihf), so the one package
#          installs and runs on Raspberry Pi OS 32-bit on every Pi, the Zero and 1 included
#          (Raspberry Pi OS's armhf is ARMv6; Debian's armhf is ARMv7, which it also runs on).
#   arm64: carries the aarch64 binary (Pi 3/4/5/Zero 2 W with a 64-bit OS).
#
# Contents: /usr/bin/sanctuary, /lib/systemd/system/sanctuary.service (hardened, enabled
# and started on install), /etc/default/sanctuary (conffile: SANCTUARY_OPTS), a short
# README.Debian. Maintainer scripts follow what debhelper's dh_installsystemd writes,
# guarded so they also work without deb-systemd-helper or a running systemd, and with
# DPKG_ROOT (dpkg --root ... --force-script-chrootless). Built by dpkg-deb alone; files
# are owned by root without fakeroot (--root-owner-group).
set -eu
arch=$1
bin=$2
version=$3
out=$4
here=$(cd "$(dirname "$0")" && pwd)
pkg=sanctuary

case $arch in armhf | arm64) ;; *) echo "mkdeb: DEB_ARCH must be armhf or arm64" >&2; exit 1 ;; esac
[ -f "$bin" ] || { echo "mkdeb: no binary $bin" >&2; exit 1; }

umask 022
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" "$root/etc/default" "$root/usr/share/doc/$pkg"

install -m 0755 "$bin" "$root/usr/bin/$pkg"
sed 's#^ExecStart=/usr/local/bin/sanctuary#ExecStart=/usr/bin/sanctuary#' "$here/sanctuary.service" >"$root/lib/systemd/system/$pkg.service"
grep -q '^ExecStart=/usr/bin/sanctuary ' "$root/lib/systemd/system/$pkg.service" || { echo "mkdeb: ExecStart not rewritten" >&2; exit 1; }
chmod 0644 "$root/lib/systemd/system/$pkg.service"

cat >"$root/etc/default/$pkg" <<'EOF'
# Flags for the sanctuary service (see `sanctuary --help`). After a change:
#   sudo systemctl restart sanctuary
# Defaults: web page on port 6969, chat on 9696, every interface (IPv4 and IPv6).
#SANCTUARY_OPTS="--http-port 6969 --ws-port 9696 --max-members 32"
SANCTUARY_OPTS=""
EOF
chmod 0644 "$root/etc/default/$pkg"

cat >"$root/usr/share/doc/$pkg/README.Debian" <<'EOF'
sanctuary for Raspberry Pi
--------------------------

The service starts on installation: open http://<this-pi's-address>:6969/ in a
browser on the same network. Nothing is logged and rooms live in memory only.

  systemctl status sanctuary           is it running?
  /etc/default/sanctuary               ports and limits (SANCTUARY_OPTS), then
  sudo systemctl restart sanctuary
  sudo systemctl disable --now sanctuary   stop it and keep it off

The binary is static (musl); it needs no other package.
EOF
chmod 0644 "$root/usr/share/doc/$pkg/README.Debian"

cat >"$root/DEBIAN/conffiles" <<EOF
/etc/default/$pkg
EOF

# --- maintainer scripts (after debhelper's postinst-systemd-enable/-start, prerm, postrm)
cat >"$root/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
unit=sanctuary.service
case "$1" in
configure | abort-upgrade | abort-deconfigure | abort-remove)
	if command -v deb-systemd-helper >/dev/null 2>&1; then
		deb-systemd-helper unmask "$unit" >/dev/null || true
		# was-enabled is true on a first installation, so new installations enable.
		if deb-systemd-helper --quiet was-enabled "$unit"; then
			deb-systemd-helper enable "$unit" >/dev/null || true
		else
			deb-systemd-helper update-state "$unit" >/dev/null || true
		fi
	elif [ -z "${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ]; then
		systemctl enable "$unit" >/dev/null 2>&1 || true
	fi
	if [ -z "${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ]; then
		systemctl --system daemon-reload >/dev/null || true
		if [ -n "$2" ]; then action=restart; else action=start; fi
		if command -v deb-systemd-invoke >/dev/null 2>&1; then
			deb-systemd-invoke "$action" "$unit" >/dev/null || true
		else
			systemctl "$action" "$unit" >/dev/null 2>&1 || true
		fi
	fi
	;;
esac
exit 0
EOF

cat >"$root/DEBIAN/prerm" <<'EOF'
#!/bin/sh
set -e
unit=sanctuary.service
if [ "$1" = remove ] && [ -z "${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ]; then
	if command -v deb-systemd-invoke >/dev/null 2>&1; then
		deb-systemd-invoke stop "$unit" >/dev/null || true
	else
		systemctl stop "$unit" >/dev/null 2>&1 || true
	fi
fi
exit 0
EOF

cat >"$root/DEBIAN/postrm" <<'EOF'
#!/bin/sh
set -e
unit=sanctuary.service
if [ "$1" = remove ] && [ -z "${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ]; then
	systemctl --system daemon-reload >/dev/null || true
fi
if command -v deb-systemd-helper >/dev/null 2>&1; then
	case "$1" in
	remove)
		deb-systemd-helper mask "$unit" >/dev/null || true
		;;
	purge)
		deb-systemd-helper purge "$unit" >/dev/null || true
		deb-systemd-helper unmask "$unit" >/dev/null || true
		;;
	esac
elif [ "$1" = purge ]; then
	rm -f "${DPKG_ROOT:-}/etc/systemd/system/multi-user.target.wants/$unit"
fi
exit 0
EOF
chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm" "$root/DEBIAN/postrm"
for s in postinst prerm postrm; do sh -n "$root/DEBIAN/$s"; done

(cd "$root" && find usr lib etc -type f ! -path 'etc/*' -exec md5sum {} + | LC_ALL=C sort -k2) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/md5sums" "$root/DEBIAN/conffiles"

size_kib=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<EOF
Package: $pkg
Version: $version
Architecture: $arch
Maintainer: sanctuary developers <sanctuary@localhost>
Installed-Size: $size_kib
Section: net
Priority: optional
Description: ephemeral end-to-end encrypted LAN chat server
 Sanctuary serves a chat page on the local network. Messages are encrypted in
 the browser (AES-256-CTR + HMAC-SHA256); the server only relays ciphertext,
 keeps rooms in memory only and writes nothing to disk or to any log.
 .
 This package carries one static binary (musl) and a hardened systemd unit
 that is enabled and started on installation (port 6969 for the page).
EOF

# Reproducible: file times from the last commit when there is one.
if [ -z "${SOURCE_DATE_EPOCH:-}" ] && t=$(git -C "$here" log -1 --format=%ct 2>/dev/null) && [ -n "$t" ]; then
	export SOURCE_DATE_EPOCH="$t"
fi
if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
	find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
fi

mkdir -p "$out"
deb="$out/${pkg}_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
