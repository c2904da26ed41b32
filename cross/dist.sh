#!/bin/sh
# cross/dist.sh DIST VERSION [TARGET=BINARY...]
# Copy each built binary to DIST/sanctuary-VERSION-TARGET after checking it is a static,
# stripped ELF for its CPU (check-elf.sh), then (re)write DIST/SHA256SUMS over this
# version's binaries and .deb packages present in DIST.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dist=$1
version=$2
shift 2
mkdir -p "$dist"
for pair in "$@"; do
	target=${pair%%=*}
	bin=${pair#*=}
	"$here/check-elf.sh" "$target" "$bin" >/dev/null
	install -m 0755 "$bin" "$dist/sanctuary-$version-$target"
done
cd "$dist"
set --
for f in "sanctuary-$version-"* "sanctuary_${version}_"*.deb; do
	[ -f "$f" ] && set -- "$@" "$f"
done
[ $# -gt 0 ] || { echo "dist: nothing for version $version in $dist" >&2; exit 1; }
# Written aside and renamed: `make -j deb` runs this twice at once.
sha256sum "$@" >SHA256SUMS.tmp.$$
mv -f SHA256SUMS.tmp.$$ SHA256SUMS
echo "$dist/SHA256SUMS:"
while read -r sum file; do
	printf '  %-48s %9s bytes  %s\n' "$file" "$(wc -c <"$file")" "$(echo "$sum" | cut -c1-16)..."
done <SHA256SUMS
