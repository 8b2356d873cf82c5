#!/bin/sh
# SPDX-License-Identifier: MIT
#
# bridge.sh - the throughput of ringside-bridge into a 3-node JetStream
# cluster on loopback (R3 file storage), as a markdown table.
#
# For every sensor count: an engine of N file sensors publishes at a short
# period into a big ring for a few seconds and stops (the backlog); then
# one bridge per window drains that same backlog into a stream of its own,
# and its counters (ringside-stat --json, every 0.1 s) are read until its
# lag is 0.  A second engine at a 10 ms period with a bridge following it
# gives the steady state.  Every stream is checked against the backlog: as
# many messages as batches, and --follow reads back batches 1..B in order.
#
# Everything lives in a mktemp directory (servers' stores and logs, sensor
# files, configurations, cursors) and in /dev/shm/ringside.rbench<PID>-*;
# the trap stops every process started here and removes both.
set -eu

usage() {
	cat <<'EOF'
Usage: bench/bridge.sh [--sensors "N ..."] [--windows "W ..."] [--fill SECONDS]
         [--period DUR] [--ring N] [--steady SECONDS] [--steady-period DUR]
         [--bin DIR] [--nats-server PATH]
Measure ringside-bridge into a 3-node NATS JetStream cluster on loopback
(R3, file storage) and print markdown tables on stdout; progress on stderr.

  --sensors "N ..."     sensor counts (default: "10 100 1000")
  --windows "W ..."     bridge --window values (default: "1 256")
  --fill SECONDS        how long the engine fills its ring (default: 5)
  --period DUR          the filling engine's period (default: 1ms, or
                        N/200 ms for N sensors above 200, so that every
                        batch is complete on 2 CPUs)
  --ring N              the engine's ring, a power of 2 up to 65536
                        (default: 16384)
  --steady SECONDS      how long the steady state is measured (default: 3;
                        0 skips it)
  --steady-period DUR   the steady engine's period (default: 10ms)
  --bin DIR             where the programs are (default: build/bin)
  --nats-server PATH    default: $RINGSIDE_NATS, else /usr/sbin/nats-server
  -h, --help            show this help and exit

Needs nats-server, curl, jq and the built programs (make -j2).

The drain table: the engine filled its ring with B batches (the backlog)
and stopped, then a bridge shipped them.  "drain s" is the time between
the stream's first and last message, as the servers stamped them, and
batches/s is (B - 1) over it; readings/s is batches/s x sensors.  "lag 0
after s" is the time from the bridge's start (connecting, creating its
stream) to the first look at its counters (ringside-stat, every 0.1 s)
that finds everything acked.  CPU is the user + system time of the bridge
and of the three servers over that time, per batch.  The steady table:
acks/s and the lag from the counters while a bridge follows an engine,
CPU in % of one CPU.  Every stream is checked: B messages, and --follow
reads batches 1..B in order.  The first line says how much of the machine
other processes took meanwhile.

Exit status: 0; 1 when something failed or a check does not hold; 2 on a
usage error.
EOF
}

die() {
	echo "bridge.sh: $*" >&2
	exit 1
}

say() {
	echo "bridge.sh: $*" >&2
}

sensors="10 100 1000"
windows="1 256"
fill=5
period=
ring=16384
steady=3
steady_period=10ms
bin=build/bin
server=${RINGSIDE_NATS:-/usr/sbin/nats-server}

while [ $# -gt 0 ]; do
	case $1 in
	-h | --help)
		usage
		exit 0
		;;
	--sensors | --windows | --fill | --period | --ring | --steady | \
		--steady-period | --bin | --nats-server)
		[ $# -ge 2 ] || {
			echo "bridge.sh: $1 needs a value" >&2
			exit 2
		}
		case $1 in
		--sensors) sensors=$2 ;;
		--windows) windows=$2 ;;
		--fill) fill=$2 ;;
		--period) period=$2 ;;
		--ring) ring=$2 ;;
		--steady) steady=$2 ;;
		--steady-period) steady_period=$2 ;;
		--bin) bin=$2 ;;
		--nats-server) server=$2 ;;
		esac
		shift 2
		;;
	*)
		echo "bridge.sh: unknown argument '$1' (try --help)" >&2
		exit 2
		;;
	esac
done

for v in $sensors $windows $fill $ring $steady; do
	case $v in
	'' | *[!0-9]*)
		echo "bridge.sh: '$v' is not a number" >&2
		exit 2
		;;
	esac
done
if [ -z "$sensors" ] || [ -z "$windows" ]; then
	echo "bridge.sh: --sensors and --windows need values" >&2
	exit 2
fi
for p in ringsided ringside-bridge ringside-stat; do
	[ -x "$bin/$p" ] || die "$bin/$p missing (run make -j2)"
done
[ -x "$server" ] || die "$server: no nats-server (apt install nats-server)"
for p in curl jq awk; do
	command -v "$p" >/dev/null || die "$p missing"
done

# ---- cleanup ----------------------------------------------------------------

tag=rbench$$
tmp=
pids=
cleanup() {
	set +e
	for p in $pids; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in $pids; do
		i=0
		while kill -0 "$p" 2>/dev/null && [ $i -lt 70 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	pids=
	[ -n "$tmp" ] && rm -rf "$tmp"
	rm -f /dev/shm/ringside."$tag"-* /dev/shm/.ringside."$tag"-*
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ringside-bridge-bench.XXXXXX")

# Stop one process started here (TERM, KILL after 7 s) and forget it.
stop() {
	kill -TERM "$1" 2>/dev/null || true
	i=0
	while kill -0 "$1" 2>/dev/null && [ $i -lt 70 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	rest=
	for p in $pids; do
		[ "$p" = "$1" ] || rest="$rest $p"
	done
	pids=$rest
}

now() {
	date +%s.%N
}

# User + system clock ticks of the processes given (all their threads).
hz=$(getconf CLK_TCK 2>/dev/null || echo 100)
cpu() {
	for p in "$@"; do
		cat "/proc/$p/stat" 2>/dev/null || true
	done | awk '{ sub(/^.*\) /, ""); t += $12 + $13 } END { print t + 0 }'
}

# ---- the cluster ------------------------------------------------------------

# Nine ports (3 client, 3 route, 3 monitoring) below the kernel's ephemeral
# range, none of them in use, starting from a slot derived from our pid.
ephemeral=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
[ "$ephemeral" -gt 12000 ] || ephemeral=32768
used=
ports_free() {
	for p in "$@"; do
		case " $used " in *" $p "*) return 1 ;; esac
	done
}
pick_ports() {
	used=
	if command -v ss >/dev/null; then
		used=$(ss -Htan | awk '{ n = split($4, a, ":"); printf "%s ", a[n] }')
	fi
	nslots=$(((ephemeral - 10000) / 9))
	slot=$((($$ + $1 * 211) % nslots))
	tries=0
	while [ $tries -lt "$nslots" ]; do
		base=$((10000 + slot * 9))
		# shellcheck disable=SC2046 # nine numbers, split on purpose
		if ports_free $(seq "$base" $((base + 8))); then
			return 0
		fi
		slot=$(((slot + 1) % nslots))
		tries=$((tries + 1))
	done
	die "no 9 free loopback ports below $ephemeral"
}

servers=
urls=
mon=
start_cluster() {
	attempt=0
	while :; do
		pick_ports "$attempt"
		routes=nats://127.0.0.1:$((base + 3)),nats://127.0.0.1:$((base + 4)),nats://127.0.0.1:$((base + 5))
		servers=
		urls=
		for i in 0 1 2; do
			"$server" -js -sd "$tmp/n$i" -n "n$i" -a 127.0.0.1 \
				-p $((base + i)) -m $((base + 6 + i)) \
				--cluster_name "$tag" \
				--cluster nats://127.0.0.1:$((base + 3 + i)) \
				-routes "$routes" -l "$tmp/n$i.log" &
			servers="$servers $!"
			pids="$pids $!"
			urls="$urls${urls:+,}nats://127.0.0.1:$((base + i))"
		done
		mon=http://127.0.0.1:$((base + 6))
		# Ready once every node's /healthz says ok (JetStream has a meta
		# leader); a node that exited took a port someone else has.
		k=0
		while :; do
			ok=0
			for i in 0 1 2; do
				case $(curl -s -m 1 "http://127.0.0.1:$((base + 6 + i))/healthz" || true) in
				*'"ok"'*) ok=$((ok + 1)) ;;
				esac
			done
			[ $ok -lt 3 ] || return 0
			dead=0
			for p in $servers; do
				kill -0 "$p" 2>/dev/null || dead=1
			done
			if [ $dead -ne 0 ] || [ $k -ge 600 ]; then
				break
			fi
			sleep 0.1
			k=$((k + 1))
		done
		for p in $servers; do
			stop "$p"
		done
		attempt=$((attempt + 1))
		[ $attempt -lt 3 ] || die "the cluster did not start; see below
$(tail -n 5 "$tmp"/n*.log)"
		say "ports $base.. did not work, trying others"
		rm -rf "$tmp"/n0 "$tmp"/n1 "$tmp"/n2
	done
}

# The state of stream $1 as one line: messages first_ts last_ts (seconds).
stream_state() {
	curl -s -m 5 "$mon/jsz?streams=true" | jq -r --arg s "$1" '
		def ts: capture("^(?<s>[^.Z]+)(\\.(?<f>[0-9]+))?Z$")
			| ((.s + "Z") | fromdateiso8601)
			  + (("0." + (.f // "0")) | tonumber);
		[.account_details[]?.stream_detail[]? | select(.name == $s)]
		| first // empty | .state
		| "\(.messages) \(.first_ts | ts) \(.last_ts | ts)"'
}

# ---- engines, bridges, samples ----------------------------------------------

# Write the configuration of engine $1: $2 sensors, period $3.
engine_config() {
	{
		printf '[engine]\nname = %s\nperiod = %s\nring = %s\n\n' \
			"$1" "$3" "$ring"
		i=0
		while [ $i -lt "$2" ]; do
			printf '[sensor s%d]\nsource = file:%s/f%d\n\n' \
				$i "$tmp" $i
			i=$((i + 1))
		done
	} >"$tmp/$1.ini"
	"$bin/ringsided" -c "$tmp/$1.ini" --check >/dev/null
}

# Read the counters of engine $1's bridge once (ringside-stat --json):
# a line "TIME ACKED LAG STATE PUBLISHED RETRIES FAILURES TIMEOUTS" onto
# $tmp/$2.samples, TIME taken just before ringside-stat looks; then s (the
# line), s_acked, s_lag and s_state (none while the bridge has no
# counters).
poll() {
	t=$(now)
	s=$("$bin/ringside-stat" "$1" --json 2>/dev/null | awk -v t="$t" '
		match($0, /"bridge":\{[^}]*\}/) {
			n = split(substr($0, RSTART + 10, RLENGTH - 11), kv, ",")
			for (i = 1; i <= n; i++) {
				split(kv[i], f, ":")
				gsub(/"/, "", f[1])
				gsub(/"/, "", f[2])
				v[f[1]] = f[2]
			}
			print t, v["acked"], v["lag"], v["state"], v["published"],
				v["retries"], v["failures"], v["timeouts"]
		}')
	s_acked=0
	s_lag=0
	s_state=none
	[ -n "$s" ] || return 0
	echo "$s" >>"$tmp/$2.samples"
	read -r _ s_acked s_lag s_state _ <<EOF
$s
EOF
}

# Say what the bridge of stream $1 went through, when not a clean run.
note() {
	tail -n 1 "$tmp/$1.samples" | awk -v s="$1" '$6 + $7 + $8 > 0 {
		print "bridge.sh: note: " s ": " $6 " retries, " $7 \
			" failed rounds, " $8 " ack timeouts" }' >&2
}

# "TIME BRIDGE_CPU SERVERS_CPU", in seconds and clock ticks.
cpu_now() {
	# shellcheck disable=SC2086 # the pids, split on purpose
	echo "$(now) $(cpu $bridge) $(cpu $servers)"
}

# Bridge for engine $1 into stream $2 (subjects $3.>), window $4.
bridge=
bridge_start() {
	"$bin/ringside-bridge" "$1" --nats "$urls" --stream "$2" \
		--subject "$3" --host bench --window "$4" \
		--state "$tmp/$2.cursor" 2>"$tmp/$2.bridge.log" &
	bridge=$!
	pids="$pids $!"
}

# Check stream $1 against a backlog of $2 batches: as many messages, and
# --follow reads back batches 1..$2 in order.  Sets st to the stream's
# "messages first_ts last_ts".
check_stream() {
	k=0
	while :; do
		st=$(stream_state "$1")
		[ "${st%% *}" != "$2" ] || break
		k=$((k + 1))
		[ $k -lt 50 ] || die "stream $1 holds '${st%% *}' messages, not $2"
		sleep 0.1
	done
	"$bin/ringside-bridge" --follow "$1" --nats "$urls" --count "$2" \
		>"$tmp/$1.follow" 2>"$tmp/$1.follow.log" &
	f=$!
	pids="$pids $f"
	k=0
	while kill -0 "$f" 2>/dev/null && [ $k -lt 300 ]; do
		sleep 0.1
		k=$((k + 1))
	done
	kill -0 "$f" 2>/dev/null && die "stream $1: --follow --count $2 did not end"
	stop "$f"
	bad=$(jq -r '.seq' <"$tmp/$1.follow" | awk -v n="$2" '
		$1 != NR && !bad { bad = "message " NR " is batch " $1 }
		END { if (!bad && NR != n) bad = NR " messages"; print bad }')
	[ -z "$bad" ] ||
		die "stream $1: --follow did not read batches 1..$2 in order: $bad"
	rm -f "$tmp/$1.follow"
}

# ---- the runs ---------------------------------------------------------------

# Whatever else runs on the machine takes its share of the same CPUs:
# "ALL BUSY" clock ticks of the machine so far.
machine() {
	awk '/^cpu / { t = 0; for (i = 2; i <= 9; i++) t += $i; print t, t - $5 - $6 }' /proc/stat
}
m0=$(machine)
sleep 1
m1=$(machine)
busy=$(echo "$m0 $m1" | awk '{ printf "%.0f", 100 * ($4 - $2) / ($3 - $1 + 1e-9) }')
[ "$busy" -lt 10 ] ||
	say "warning: the machine is ${busy}% busy before we start; the figures will be low"
say "starting a 3-node cluster in $tmp"
t_start=$(now)
start_cluster
say "cluster ready: $urls"

# The sensor files, once, for the largest count.
max=0
for n in $sensors; do
	[ "$n" -le "$max" ] || max=$n
done
i=0
while [ $i -lt "$max" ]; do
	echo "$i.5" >"$tmp/f$i"
	i=$((i + 1))
done

# The bridge's state, sampled: everything acked and nothing left behind.
drained() {
	[ "$s_state" = running ] && [ "$s_lag" -eq 0 ] &&
		[ "$s_acked" -ge "$backlog" ]
}

# Caught up with a live engine: acks, and a lag of at most one batch.
caught_up() {
	[ "$s_state" = running ] && [ "$s_acked" -gt 0 ] && [ "$s_lag" -le 1 ]
}

# Poll the bridge of $name/$stream every 0.1 s until predicate $1 holds;
# die with $3 after $2 seconds (from $t0) or when the bridge exits.
poll_until() {
	while :; do
		poll "$name" "$stream"
		"$1" && return 0
		kill -0 "$bridge" 2>/dev/null ||
			die "the bridge exited: $(tail -n 3 "$tmp/$stream.bridge.log")"
		awk -v a="$t0" -v b="$(now)" -v d="$2" 'BEGIN { exit b - a >= d }' ||
			die "$stream: $3 after $2 s ($s)"
		sleep 0.1
	done
}

drain_rows=
steady_rows=
for n in $sensors; do
	p=$period
	if [ -z "$p" ]; then
		p=1ms
		[ "$n" -le 200 ] || p=$(((n + 199) / 200))ms
	fi
	# A whole number of milliseconds: will the fill fit in the ring?
	pm=${p%ms}
	case $p$pm in
	*ms*[!0-9]* | *ms0 | *ms) ;;
	*ms*)
		[ $((fill * 1000 / pm)) -le "$ring" ] ||
			die "${fill}s at $p overruns a ring of $ring: raise --ring or lower --fill"
		;;
	esac
	name=$tag-d$n
	engine_config "$name" "$n" "$p"
	say "$n sensors: filling a ring of $ring at $p for ${fill}s"
	"$bin/ringsided" -c "$tmp/$name.ini" --duration "$fill" 2>"$tmp/$name.log" &
	engine=$!
	pids="$pids $!"
	wait "$engine" || die "ringsided $name failed: $(tail -n 3 "$tmp/$name.log")"
	stop "$engine"
	eng=$("$bin/ringside-stat" "$name" --json |
		jq -r '"\(.batches) \(.degraded_batches)"')
	backlog=${eng%% *}
	degraded=${eng#* }
	[ "$backlog" -le "$ring" ] ||
		die "$backlog batches overran the ring of $ring: raise --ring or lower --fill"
	[ "$backlog" -gt 1 ] || die "engine $name published $backlog batches"
	for w in $windows; do
		stream=BENCH_D${n}_W$w
		say "$n sensors, window $w: draining $backlog batches into $stream"
		bridge=
		cpu_a=$(cpu_now)
		bridge_start "$name" "$stream" "bench.d$n.w$w" "$w"
		t0=$(now)
		poll_until drained 60 "not drained"
		cpu_b=$(cpu_now)
		stop "$bridge"
		note "$stream"
		check_stream "$stream" "$backlog"
		# The rate: the stream's first to last message.  The counters:
		# the bridge's start to the first sample with everything acked.
		row=$(awk -v n="$n" -v w="$w" -v b="$backlog" -v d="$degraded" \
			-v st="$st" -v t0="$t0" -v ca="$cpu_a" -v cb="$cpu_b" \
			-v hz="$hz" '
			$4 == "running" && $2 >= b && $3 == 0 && t2 == "" { t2 = $1 }
			END {
				split(st, s, " ")
				srate = (s[3] > s[2]) ? (b - 1) / (s[3] - s[2]) : 0
				split(ca, x, " "); split(cb, y, " ")
				bc = 1e6 * (y[2] - x[2]) / hz / b
				sc = 1e6 * (y[3] - x[3]) / hz / b
				printf "| %d | %d | %d | %.0f%% | %.0f | %.0f | %.2f | %.2f | %.0f | %.0f |\n", \
					n, w, b, 100 * d / b, srate, srate * n, \
					s[3] - s[2], t2 - t0, bc, sc
			}' "$tmp/$stream.samples")
		say "$row"
		drain_rows="$drain_rows$row
"
	done
	rm -f /dev/shm/ringside."$name" /dev/shm/ringside."$name"@bridge

	[ "$steady" -gt 0 ] || continue
	name=$tag-s$n
	stream=BENCH_S$n
	engine_config "$name" "$n" "$steady_period"
	say "$n sensors: steady state at $steady_period for ${steady}s"
	"$bin/ringsided" -c "$tmp/$name.ini" 2>"$tmp/$name.log" &
	engine=$!
	pids="$pids $!"
	k=0
	while [ ! -e "/dev/shm/ringside.$name" ] && [ $k -lt 100 ]; do
		sleep 0.05
		k=$((k + 1))
	done
	bridge_start "$name" "$stream" "bench.s$n" 256
	# Caught up: the first sample with acks and a lag of at most 1.
	t0=$(now)
	poll_until caught_up 30 "the bridge did not catch up"
	cpu_a=$(cpu_now)
	while awk -v a="${cpu_a%% *}" -v b="$(now)" -v d="$steady" \
		'BEGIN { exit b - a >= d }'; do
		sleep 0.1
		poll "$name" "$stream"
	done
	cpu_b=$(cpu_now)
	stop "$engine"
	# The engine closed its segment: the bridge ships the last batches.
	eb=$("$bin/ringside-stat" "$name" --json | jq -r .batches)
	k=0
	while :; do
		poll "$name" "$stream"
		if [ "$s_state" = running ] && [ "$s_lag" -eq 0 ] &&
			[ "$s_acked" -ge "$eb" ]; then
			break
		fi
		k=$((k + 1))
		[ $k -lt 100 ] || die "$stream: the last batches were not acked ($s)"
		sleep 0.1
	done
	stop "$bridge"
	note "$stream"
	check_stream "$stream" "$eb"
	row=$(awk -v n="$n" -v p="$steady_period" \
		-v ca="$cpu_a" -v cb="$cpu_b" -v hz="$hz" '
		BEGIN { split(ca, x, " "); split(cb, y, " ") }
		$4 == "running" && $1 >= x[1] && $1 <= y[1] {
			if (k == 0) { t1 = $1; a1 = $2 }
			t2 = $1; a2 = $2; k++; lag += $3
			if ($3 > lmax) lmax = $3
		}
		END {
			dt = y[1] - x[1]
			bc = dt > 0 ? 100 * (y[2] - x[2]) / hz / dt : 0
			sc = dt > 0 ? 100 * (y[3] - x[3]) / hz / dt : 0
			r = t2 > t1 ? (a2 - a1) / (t2 - t1) : 0
			printf "| %d | %s | %.0f | %.0f | %.1f | %d | %.0f%% | %.0f%% |\n", \
				n, p, r, r * n, k ? lag / k : 0, lmax, bc, sc
		}' "$tmp/$stream.samples")
	say "$row"
	steady_rows="$steady_rows$row
"
	rm -f /dev/shm/ringside."$name" /dev/shm/ringside."$name"@bridge
done

elapsed=$(awk -v a="$t_start" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }')
say "done in ${elapsed}s; every stream held its backlog exactly, in order"
# The CPU time of others during the run: the machine's busy time, less
# ours (this shell and its reaped children, from times; the servers).  The
# kernel counts the two differently: a few % either way is noise.
times >"$tmp/times"
# shellcheck disable=SC2086 # the pids, split on purpose
others=$({
	echo "$m1 $(machine) $(cpu $servers)"
	cat "$tmp/times"
} | awk -v hz="$hz" '
	function s(x) { sub(/s$/, "", x); split(x, a, "m"); return a[1] * 60 + a[2] }
	NR == 1 { all = ($3 - $1) / hz; busy = ($4 - $2) / hz; ours = $5 / hz }
	NR > 1 { ours += s($1) + s($2) }
	END { o = all > 0 ? 100 * (busy - ours) / all : 0; printf "%.0f", (o > 0 ? o : 0) }')
[ "$others" -lt 10 ] ||
	say "warning: other processes took ${others}% of the machine during the run"

echo "Draining a backlog (ring $ring, filled for ${fill}s, the engine stopped; $(nproc) CPUs, ${others}% taken by others during the run):"
echo
echo "| sensors | window | backlog | degraded | batches/s | readings/s | drain s | lag 0 after s | bridge CPU µs/batch | servers CPU µs/batch |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
printf '%s' "$drain_rows"
if [ -n "$steady_rows" ]; then
	echo
	echo "Keeping up with an engine at $steady_period (${steady}s, after catching up):"
	echo
	echo "| sensors | period | acks/s | readings/s | lag mean | lag max | bridge CPU | servers CPU |"
	echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	printf '%s' "$steady_rows"
fi
