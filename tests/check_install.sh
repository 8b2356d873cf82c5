#!/bin/sh
# SPDX-License-Identifier: MIT
#
# check_install.sh BUILD_DIR - install ringside into a scratch DESTDIR,
# build the README's reader against the installed copy with pkg-config, and
# run it against a short engine: what a user of libringside does.
set -eu
O=$1
name=inst$$
tmp=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	rm -rf "$tmp"
	rm -f "/dev/shm/ringside.$name" "/dev/shm/.ringside.$name.lock"
}
trap cleanup EXIT

env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s install O="$O" DESTDIR="$tmp/root" PREFIX=/usr/local >/dev/null
for f in sbin/ringsided bin/ringside-tail bin/ringside-sim \
	include/ringside.h lib/libringside.a lib/libringside.so \
	lib/pkgconfig/ringside.pc share/man/man8/ringsided.8; do
	[ -e "$tmp/root/usr/local/$f" ] || { echo "install: $f missing"; exit 1; }
done

# The README's reader, compiled the way the README says.
awk '/^```c$/ { on = 1; next } /^```$/ { on = 0 } on' README.md > "$tmp/reader.c"
export PKG_CONFIG_SYSROOT_DIR="$tmp/root"
export PKG_CONFIG_PATH="$tmp/root/usr/local/lib/pkgconfig"
cc -o "$tmp/reader" "$tmp/reader.c" $(pkg-config --cflags --libs ringside)

echo 21.5 > "$tmp/t"
printf '[engine]\nname = %s\nperiod = 20ms\n\n[sensor t]\nsource = file:%s/t\n' \
	"$name" "$tmp" > "$tmp/e.ini"
"$tmp/root/usr/local/sbin/ringsided" -c "$tmp/e.ini" --duration 2 2>/dev/null &
pid=$!
i=0
while [ ! -e "/dev/shm/ringside.$name" ]; do
	i=$((i + 1)); [ $i -lt 200 ] || { echo "no segment"; exit 1; }
	sleep 0.01
done
LD_LIBRARY_PATH="$tmp/root/usr/local/lib" timeout 20 "$tmp/reader" "$name" \
	> "$tmp/out"
wait "$pid"
pid=
grep -q '^[0-9]*: 1 of 1$' "$tmp/out" || { echo "reader printed:"; cat "$tmp/out"; exit 1; }
echo "install: ok ($(wc -l < "$tmp/out") batches read by the README's reader)"
