# SPDX-License-Identifier: MIT
#
# plot.gp - the SVG plots of ringside-bench, drawn from the data files it
# writes beside latest.json; ringside-bench runs it as
#
#   gnuplot -e "dir='bench/results'; sys_tmpfs='floor epoll ringside'; \
#               kinds='tmpfs'; period_ms=100" bench/plot.gp
#
# DIR/cpu-KIND.dat and DIR/lateness-KIND.dat hold one line per sensor
# count: the count, then for each system (floor, epoll, ringside, threads,
# asyncio, in that order) its median, min and max over the rounds, NaN
# where it was not measured.  sys_KIND names the systems with figures for
# that kind (a plot of nothing but NaN would stop gnuplot).
#
# Writes DIR/cpu.svg (CPU per reading in the steady state, after the
# warm-up, against sensors) and DIR/lateness.svg
# (tick lateness p99 against sensors), one panel per kind, log-log.

if (!exists("dir")) dir = 'bench/results'
if (!exists("kinds")) kinds = 'tmpfs'
if (!exists("period_ms")) period_ms = 100

all = 'floor epoll ringside threads asyncio'
# The column of system s's median: 1 + 3 * (its place in all) - 2.
col(s) = 3 * (strstrt(all, s) == 1 ? 1 : \
	strstrt(all, s) == 7 ? 2 : \
	strstrt(all, s) == 13 ? 3 : \
	strstrt(all, s) == 22 ? 4 : 5) - 1
colour(s) = (s eq 'ringside' ? '#d62728' : \
	s eq 'epoll' ? '#1f77b4' : \
	s eq 'floor' ? '#7f7f7f' : \
	s eq 'threads' ? '#2ca02c' : '#9467bd')

nk = words(kinds)
set encoding utf8
set terminal svg size 460 * nk, 420 dynamic font 'sans,12' \
	background rgb 'white'
set logscale xy 10
set grid xtics ytics mxtics mytics lc rgb '#dddddd'
set key top left box opaque font 'sans,10'
set xlabel 'sensors'
set offsets graph 0.1, graph 0.1, 0, 0
set format y '%g'

set output dir.'/cpu.svg'
set multiplot layout 1, nk title sprintf('CPU per reading after the ' \
	. 'warm-up (user + sys of the whole process, µs), %g ms tick, no ' \
	. 'failures; median and min–max over the rounds', period_ms)
set ylabel 'µs per reading'
do for [k = 1:nk] {
	kind = word(kinds, k)
	list = value('sys_'.kind)
	set title kind
	file = dir.'/cpu-'.kind.'.dat'
	plot for [i = 1:words(list)] file \
		using 1:(column(col(word(list, i)))): \
		(column(col(word(list, i)) + 1)): \
		(column(col(word(list, i)) + 2)) \
		with yerrorlines lw 2 pt 7 ps 0.6 \
		lc rgb colour(word(list, i)) title word(list, i)
}
unset multiplot

set output dir.'/lateness.svg'
set multiplot layout 1, nk title sprintf('Tick lateness p99 (publish − ' \
	. 'tick, µs), %g ms tick, no failures; median and min–max over the ' \
	. 'rounds', period_ms)
set ylabel 'µs'
do for [k = 1:nk] {
	kind = word(kinds, k)
	list = value('sys_'.kind)
	set title kind
	file = dir.'/lateness-'.kind.'.dat'
	plot for [i = 1:words(list)] file \
		using 1:(column(col(word(list, i)))): \
		(column(col(word(list, i)) + 1)): \
		(column(col(word(list, i)) + 2)) \
		with yerrorlines lw 2 pt 7 ps 0.6 \
		lc rgb colour(word(list, i)) title word(list, i)
}
unset multiplot
