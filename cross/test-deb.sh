#!/bin/sh
# cross/test-deb.sh DEB... — check the Debian packages that cross/mkdeb.sh made:
#  - dpkg-deb --info: name, version, architecture; --contents: the expected files, root-owned,
#    the right modes;
#  - the binary inside is the right static ELF (check-elf.sh), the unit is the hardened one,
#    runs /usr/bin/sanctuary and passes systemd-analyze verify (when systemd-analyze exists);
#  - installed for real with dpkg into a scratch root (--root, --force-script-chrootless, so
#    the maintainer scripts run with DPKG_ROOT): the unit is enabled
#    (multi-user.target.wants symlink), then removed and purged without leftovers.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
fail() { echo "test-deb: FAIL: $*" >&2; exit 1; }
ok() { echo "  ok  $*"; }

[ $# -gt 0 ] || fail "usage: test-deb.sh DEB..."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for deb in "$@"; do
	echo "$deb"
	[ -f "$deb" ] || fail "$deb missing"
	info=$(dpkg-deb --info "$deb")
	field() { dpkg-deb --field "$deb" "$1"; }
	arch=$(field Architecture)
	case $arch in
	armhf) target=arm-unknown-linux-musleabihf ;;
	arm64) target=aarch64-unknown-linux-musl ;;
	*) fail "$deb: architecture '$arch'" ;;
	esac
	[ "$(field Package)" = sanctuary ] || fail "package name"
	case $deb in *"_$(field Version)_${arch}.deb") ;; *) fail "file name does not match version/arch" ;; esac
	for s in postinst prerm postrm conffiles md5sums; do
		printf '%s\n' "$info" | grep -Eq "^ +[0-9]+ bytes, +[0-9]+ lines +[*]? *$s( |$)" || fail "no $s in control.tar"
	done
	ok "dpkg-deb --info: sanctuary $(field Version) $arch, maintainer scripts, conffiles, md5sums"

	contents=$(dpkg-deb --contents "$deb")
	for f in './usr/bin/sanctuary' './lib/systemd/system/sanctuary.service' './etc/default/sanctuary' './usr/share/doc/sanctuary/README.Debian'; do
		printf '%s\n' "$contents" | grep -q " $f\$" || fail "$f missing from the package"
	done
	printf '%s\n' "$contents" | grep -Eq '^-rwxr-xr-x root/root .* \./usr/bin/sanctuary$' || fail "/usr/bin/sanctuary not 0755 root/root"
	printf '%s\n' "$contents" | grep -Eq '^-rw-r--r-- root/root .* \./lib/systemd/system/sanctuary.service$' || fail "unit not 0644 root/root"
	printf '%s\n' "$contents" | awk '{print $2}' | grep -qv '^root/root$' && fail "files not owned by root/root"
	ok "dpkg-deb --contents: binary, unit, /etc/default/sanctuary, doc; root/root, modes"

	x=$work/x-$arch
	dpkg-deb -x "$deb" "$x"
	dpkg-deb -e "$deb" "$x/DEBIAN"
	"$here/check-elf.sh" "$target" "$x/usr/bin/sanctuary" | sed 's/^/      /'
	ok "the binary is the static $target build"
	unit=$x/lib/systemd/system/sanctuary.service
	grep -q '^ExecStart=/usr/bin/sanctuary \$SANCTUARY_OPTS$' "$unit" || fail "ExecStart"
	for want in DynamicUser=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes NoNewPrivileges=yes \
		'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' 'CapabilityBoundingSet=$' PrivateDevices=yes \
		'SystemCallFilter=@system-service' 'MemoryMax=' 'WantedBy=multi-user.target'; do
		grep -q "^$want" "$unit" || fail "unit lacks $want"
	done
	grep -Eq '^(StateDirectory|CacheDirectory|LogsDirectory|RuntimeDirectory|ConfigurationDirectory|ReadWritePaths)=' "$unit" &&
		fail "unit has a writable path"
	if command -v systemd-analyze >/dev/null 2>&1; then
		sed "s#^ExecStart=/usr/bin/sanctuary#ExecStart=$x/usr/bin/sanctuary#" "$unit" >"$work/sanctuary.service"
		systemd-analyze verify "$work/sanctuary.service" 2>&1 | grep -v 'is not executable\|Exec format error' >&2 || true
		score=$(systemd-analyze security --offline=true "$work/sanctuary.service" 2>/dev/null | sed -n 's/.*Overall exposure level for sanctuary.service: //p')
		ok "unit: hardened, no writable paths; systemd-analyze security: ${score:-n/a}"
	else
		ok "unit: hardened, no writable paths (no systemd-analyze here)"
	fi
	for s in postinst prerm postrm; do sh -n "$x/DEBIAN/$s" || fail "$s: syntax"; done

	# A real installation into a scratch root, maintainer scripts included.
	r=$work/root-$arch
	mkdir -p "$r/var/lib/dpkg/info" "$r/var/lib/dpkg/updates" "$r/etc/systemd/system"
	: >"$r/var/lib/dpkg/status"
	dpkg_r() { dpkg --root="$r" --force-script-chrootless --force-architecture --force-unsafe-io --log=/dev/null "$@" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg $*"; }; }
	dpkg_r -i "$deb"
	[ -x "$r/usr/bin/sanctuary" ] || fail "not installed"
	dpkg --root="$r" -s sanctuary 2>/dev/null | grep -q '^Status: install ok installed' || fail "dpkg status"
	if command -v deb-systemd-helper >/dev/null 2>&1; then
		link=$r/etc/systemd/system/multi-user.target.wants/sanctuary.service
		[ -L "$link" ] || fail "postinst did not enable the unit"
		ok "dpkg -i (scratch root): installed, enabled -> $(readlink "$link")"
	else
		ok "dpkg -i (scratch root): installed (no deb-systemd-helper here to check enabling)"
	fi
	dpkg_r -r sanctuary
	[ ! -e "$r/usr/bin/sanctuary" ] || fail "binary left after remove"
	[ -f "$r/etc/default/sanctuary" ] || fail "conffile gone after remove (should stay until purge)"
	dpkg_r -P sanctuary
	left=$(cd "$r" && find . ! -type d ! -path './var/lib/dpkg/*' | head -5)
	[ -z "$left" ] || fail "left after purge: $left"
	ok "dpkg -r keeps /etc/default/sanctuary; dpkg -P leaves nothing behind"
done
echo "test-deb: all checks passed"
