#!/bin/sh
# cross/check-syscalls.sh BINARY [UNIT] — run the smoke test against the ARMv6 BINARY under
# qemu-arm -strace and check that every system call the server made is allowed by the
# SystemCallFilter= lines of UNIT (default cross/sanctuary.service), as systemd-analyze
# expands their groups. So the unit's seccomp filter cannot kill the server on a Pi.
# Skips (exit 0) when systemd-analyze is not installed.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=$1
unit=${2:-$here/sanctuary.service}
if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "check-syscalls: no systemd-analyze here, skipped"; exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat >"$work/qemu" <<EOS
#!/bin/sh
exec qemu-arm -cpu arm1176 -strace -D "$work/strace.log" "\$@"
EOS
chmod +x "$work/qemu"
${PYTHON:-python3} "$here/smoke.py" --clients 3 -- "$work/qemu" "$bin" >"$work/smoke.log" 2>&1 || { cat "$work/smoke.log"; exit 1; }
grep -oE '^[0-9]+ [a-z_0-9]+\(' "$work/strace.log" | awk '{print $2}' | tr -d '(' | sort -u >"$work/used"

expand() { # a syscall or @group -> syscall names, recursively
	case $1 in
	@*) systemd-analyze syscall-filter "$1" | sed -e 's/#.*//' -e 's/ //g' | sed 1d | grep -v '^$' |
		while read -r s; do expand "$s"; done ;;
	*) echo "$1" ;;
	esac
}
: >"$work/allow"
# As systemd reads the lines, in order: the first (an allow-list) sets the calls allowed, a
# later "~" line takes calls out of them and a later plain line puts calls back.
sed -n 's/^SystemCallFilter=//p' "$unit" | while read -r line; do
	case $line in
	~*) for g in ${line#\~}; do expand "$g"; done >"$work/deny"
		grep -vxF -f "$work/deny" "$work/allow" >"$work/left" || true
		mv "$work/left" "$work/allow" ;;
	*) for g in $line; do expand "$g"; done >>"$work/allow" ;;
	esac
done
bad=0
while read -r s; do
	if ! grep -qx "$s" "$work/allow"; then
		echo "check-syscalls: $s is used but not allowed by $unit" >&2; bad=1
	fi
done <"$work/used"
[ $bad = 0 ] || exit 1
echo "check-syscalls: all $(wc -l <"$work/used") system calls the server made are allowed by $(basename "$unit")'s SystemCallFilter"
