#!/bin/sh
# SPDX-License-Identifier: MIT
#
# memcheck.sh - run ringsided under valgrind memcheck for a while with every
# kind of source, fed by ringside-sim, then SIGTERM it: no memory error and
# no definite leak may be reported.
#
# Sources: a tmpfs file rewritten by the simulator and a procfs file
# (file:), a FIFO and a pty (stream:), TCP push and request, Unix push and
# request, and UDP.  The engine runs for MEMCHECK_SECONDS (default 30)
# once valgrind has started it, then gets SIGTERM, which must end it with
# status 0.  Suppressions come from tests/valgrind.supp when it exists;
# they are for code outside ringside only.
#
# usage: tests/memcheck.sh BUILD_DIR
# Exit status: 0 clean (or valgrind missing: skipped, with a message),
# 1 an error, a definite leak, or the engine did not run or stop cleanly,
# 2 usage.
set -u

if [ $# -ne 1 ]; then
	echo "usage: $0 BUILD_DIR" >&2
	exit 2
fi
build=$1
here=$(cd "$(dirname "$0")" && pwd)
engine=$build/bin/ringsided
sim=$build/bin/ringside-sim
seconds=${MEMCHECK_SECONDS:-30}
supp=$here/valgrind.supp

if ! command -v valgrind >/dev/null 2>&1; then
	echo "memcheck: SKIP: valgrind not installed (apt-get install valgrind)"
	exit 0
fi
for b in "$engine" "$sim"; do
	if [ ! -x "$b" ]; then
		echo "memcheck: $b missing (make first)" >&2
		exit 1
	fi
done

dir=$(mktemp -d /dev/shm/ringside-memcheck.XXXXXX) || exit 1
name=memcheck$$
sim_pid=
vg_pid=
cleanup() {
	[ -n "$vg_pid" ] && kill -KILL "$vg_pid" 2>/dev/null
	[ -n "$sim_pid" ] && kill -TERM "$sim_pid" 2>/dev/null
	[ -n "$sim_pid" ] && wait "$sim_pid" 2>/dev/null
	if [ -n "${MEMCHECK_KEEP:-}" ]; then
		echo "memcheck: kept $dir"
	else
		rm -rf "$dir"
	fi
	rm -f "/dev/shm/ringside.$name" "/dev/shm/.ringside.$name.lock"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# A UDP port for the engine to bind: one that nothing holds now.
udp_port=$((20000 + $$ % 20000))

mkfifo "$dir/ready"
"$sim" --seed 8 --quiet \
	"file:$dir/tmpfs,value=21,noise=1,rate=10" \
	"fifo:$dir/fifo,value=22,noise=1,rate=20,garbage=0.05" \
	"pty:pty,value=23,rate=20,flap=6/2" \
	"tcp:127.0.0.1:0,value=24,rate=20,flap=8/3" \
	"tcp:127.0.0.1:0,mode=request,value=25,fail=0.05,hang=0.05,garbage=0.05" \
	"unix:$dir/push.sock,value=26,rate=20" \
	"unix:$dir/req.sock,mode=request,value=27,fail=0.05" \
	"udp:127.0.0.1:$udp_port,value=28,rate=20,garbage=0.05" \
	>"$dir/ready" 2>"$dir/sim.log" &
sim_pid=$!

# The ready lines, in feed order: the pty's slave and the TCP ports.
exec 3<"$dir/ready"
addr() {
	IFS=' ' read -r word kind address <&3 || return 1
	[ "$word" = ready ] || return 1
	echo "$address"
}
a_file=$(addr) && a_fifo=$(addr) && a_pty=$(addr) && a_tcp=$(addr) &&
	a_req=$(addr) && a_unix=$(addr) && a_ureq=$(addr) && a_udp=$(addr)
if [ -z "${a_udp:-}" ]; then
	echo "memcheck: ringside-sim did not start:" >&2
	cat "$dir/sim.log" >&2
	exit 1
fi
# The simulator writes nothing else on stdout, but keep its pipe drained.
cat <&3 >/dev/null &
exec 3<&-

cat >"$dir/memcheck.ini" <<EOF
; tests/memcheck.sh: one sensor of every kind
[engine]
name = $name
period = 100ms
deadline = 100ms
ring = 64

[defaults]
timeout = 50ms
breaker_reset = 2s

[sensor tmpfs]
source = file:$a_file

[sensor procfs]
source = file:/proc/loadavg

[sensor fifo]
source = stream:$a_fifo

[sensor pty]
source = stream:$a_pty

[sensor tcp_push]
source = tcp:$a_tcp

[sensor tcp_request]
source = tcp:$a_req
request = READ\\n

[sensor unix_push]
source = unix:$a_unix

[sensor unix_request]
source = unix:$a_ureq
request = READ\\n

[sensor udp]
source = udp:$a_udp
EOF

set -- --tool=memcheck --leak-check=full --errors-for-leak-kinds=definite \
	--error-exitcode=1 --track-origins=yes --num-callers=30 \
	--log-file="$dir/valgrind.log"
[ -f "$supp" ] && set -- "$@" --suppressions="$supp"
echo "memcheck: valgrind $(valgrind --version | sed 's/valgrind-//'):" \
	"ringsided with 9 sensors (every source kind) for ${seconds}s"
valgrind "$@" "$engine" -c "$dir/memcheck.ini" --log-level warn \
	2>"$dir/engine.log" &
vg_pid=$!

# Count the run from the segment's appearance: valgrind starts slowly.
i=0
while [ ! -e "/dev/shm/ringside.$name" ]; do
	if ! kill -0 "$vg_pid" 2>/dev/null || [ $i -ge 600 ]; then
		echo "memcheck: the engine did not start; its log:" >&2
		cat "$dir/engine.log" "$dir/valgrind.log" >&2
		exit 1
	fi
	sleep 0.1
	i=$((i + 1))
done
sleep "$seconds"
kill -TERM "$vg_pid"
i=0
while kill -0 "$vg_pid" 2>/dev/null && [ $i -lt 300 ]; do
	sleep 0.1
	i=$((i + 1))
done
if kill -0 "$vg_pid" 2>/dev/null; then
	echo "memcheck: FAIL: the engine did not exit within 30 s of SIGTERM" >&2
	exit 1
fi
wait "$vg_pid"
status=$?
vg_pid=

errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' \
	"$dir/valgrind.log" | tail -n 1)
definite=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' \
	"$dir/valgrind.log" | tail -n 1)
sed -n '/HEAP SUMMARY/,$p' "$dir/valgrind.log" | sed 's/^==[0-9]*== //'
if [ "$status" -ne 0 ] || [ "${errors:-x}" != 0 ]; then
	echo "memcheck: FAIL: exit status $status, ${errors:-?} errors," \
		"definitely lost ${definite:-0} bytes" >&2
	# Where the memory blamed came from, with counts: one line a site.
	echo "--- origins of the values and blocks reported:" >&2
	sed 's/^==[0-9]*== //' "$dir/valgrind.log" |
		awk '/created by|Address .* is|definitely lost in/ {
			getline a; getline b; getline c; print a " <" b " <" c }' |
		sed 's/0x[0-9A-F]*: //g; s/  */ /g' | sort | uniq -c >&2
	echo "--- the first reports (all in $dir/valgrind.log with" \
		"MEMCHECK_KEEP=1):" >&2
	sed 's/^==[0-9]*== //' "$dir/valgrind.log" | sed -n '7,60p' >&2
	echo "--- engine log (tail)" >&2
	tail -n 20 "$dir/engine.log" >&2
	exit 1
fi
echo "memcheck: ok: no error, no definite leak"
exit 0
