# SPDX-License-Identifier: MIT
#
# ringside: out-of-tree build.  Everything lands under $(O) (default build/):
# programs in $(O)/bin, libraries and ringside.pc in $(O)/lib, objects in
# $(O)/obj.  A sanitizer build gets a directory of its own, so
# `make check SANITIZE=address,undefined` never mixes objects with the
# normal build.
#
#   make                 build everything
#   make check           install missing packages, build, run every test
#   make demo            install missing packages, build, run the demo
#   make bench           the small benchmark matrix
#   make install         PREFIX=/usr/local DESTDIR=
#   make V=1             show full command lines

VERSION := 0.1.0

SANITIZE ?=
ifeq ($(SANITIZE),)
O ?= build
else
O ?= build-$(subst $(comma),-,$(SANITIZE))
endif
comma := ,

PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
LIBDIR ?= $(PREFIX)/lib
INCDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man

CC ?= cc
AR ?= ar
OPT ?= -O2
CFLAGS ?= $(OPT) -g
WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wno-unused-parameter -Wformat=2 -Wvla
CPPFLAGS += -D_GNU_SOURCE -DRINGSIDE_VERSION=\"$(VERSION)\" -Ishm -Iengine
ALL_CFLAGS = -std=c11 $(WARN) $(CFLAGS) $(SAN_FLAGS) -MMD -MP
LDLIBS_COMMON := -lpthread -lm

ifneq ($(SANITIZE),)
SAN_FLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
endif

ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-7s %s\n' $(1) $(2)
endif

OBJ := $(O)/obj

# libringside: the segment, public API in shm/ringside.h.
LIB_SRCS := $(wildcard shm/*.c)
LIB_OBJS := $(LIB_SRCS:%.c=$(OBJ)/%.o)
LIB_PIC_OBJS := $(LIB_SRCS:%.c=$(OBJ)/pic/%.o)
LIB_A := $(O)/lib/libringside.a
LIB_SO := $(O)/lib/libringside.so
LIB_SONAME := libringside.so.0
PC := $(O)/lib/ringside.pc

# The engine's core: every engine/*.c but the program's main.
CORE_SRCS := $(filter-out engine/main.c,$(wildcard engine/*.c))
CORE_OBJS := $(CORE_SRCS:%.c=$(OBJ)/%.o)
CORE_A := $(O)/lib/libringside-engine.a

# Programs: engine/main.c is ringsided; each clients/NAME.c and
# bench/NAME.c with a main() is ringside-NAME (clients/common.c and
# bench/common.c are shared helpers, not programs; clients/fleet.c is the
# bridge's pure core, which the tests link too).
CLIENT_SRCS := $(filter-out clients/common.c clients/fleet.c,\
	$(wildcard clients/*.c))
BENCH_SRCS := $(filter-out bench/common.c,$(wildcard bench/*.c))
CLIENT_COMMON := $(patsubst %.c,$(OBJ)/%.o,$(wildcard clients/common.c))
BENCH_COMMON := $(patsubst %.c,$(OBJ)/%.o,$(wildcard bench/common.c))
PROGS := $(O)/bin/ringsided \
	$(patsubst clients/%.c,$(O)/bin/ringside-%,$(CLIENT_SRCS)) \
	$(patsubst bench/%.c,$(O)/bin/ringside-%,$(BENCH_SRCS))

# Benchmark peers: bench/baselines/NAME.c is $(O)/bench/peer-NAME, the
# same work as the engine done another way (not installed);
# bench/baselines/common.c is shared by them.
PEER_SRCS := $(filter-out bench/baselines/common.c,$(wildcard bench/baselines/*.c))
PEER_COMMON := $(patsubst %.c,$(OBJ)/%.o,$(wildcard bench/baselines/common.c))
PEERS := $(patsubst bench/baselines/%.c,$(O)/bench/peer-%,$(PEER_SRCS))

# Tests: every tests/test_*.c links into one Criterion runner, so the
# suite ends with one summary line; tests/stress_*.c are plain programs
# (exit 0 or 1) that also run under ThreadSanitizer, where Criterion
# cannot start.
TEST_SRCS := $(wildcard tests/test_*.c)
TEST_OBJS := $(TEST_SRCS:%.c=$(OBJ)/%.o)
TEST_RUNNER := $(O)/tests/ringside-tests
STRESS_SRCS := $(wildcard tests/stress_*.c)
STRESS_PROGS := $(patsubst tests/%.c,$(O)/tests/%,$(STRESS_SRCS))
# tests/tool_*.c: helper programs the tests start (a FUSE file system
# whose reads hang, ...).
TOOL_SRCS := $(wildcard tests/tool_*.c)
TOOL_PROGS := $(patsubst tests/%.c,$(O)/tests/%,$(TOOL_SRCS))
TOOL_LIBS_fuse := $(shell pkg-config --libs fuse3 2>/dev/null)
TOOL_CFLAGS_fuse := $(shell pkg-config --cflags fuse3 2>/dev/null)

PKG_LIBS := -luring -linih
ENGINE_LIBS := $(CORE_A) $(LIB_A) $(PKG_LIBS) $(LDLIBS_COMMON)

all: $(LIB_A) $(LIB_SO) $(PC) $(CORE_A) $(PROGS) $(TEST_RUNNER) \
	$(STRESS_PROGS) $(TOOL_PROGS) $(PEERS)

$(O)/bin $(O)/lib $(O)/tests $(O)/bench $(OBJ)/shm $(OBJ)/pic/shm \
$(OBJ)/engine $(OBJ)/clients $(OBJ)/bench $(OBJ)/bench/baselines $(OBJ)/tests:
	$(Q)mkdir -p $@

$(OBJ)/%.o: %.c | $(OBJ)/shm $(OBJ)/engine $(OBJ)/clients $(OBJ)/bench \
		$(OBJ)/bench/baselines $(OBJ)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

$(OBJ)/pic/%.o: %.c | $(OBJ)/pic/shm
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -fPIC \
		-c -o $@ $<

$(LIB_A): $(LIB_OBJS) | $(O)/lib
	$(call msg,AR,$@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(LIB_SO): $(LIB_PIC_OBJS) | $(O)/lib
	$(call msg,LD,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -shared -Wl,-soname,$(LIB_SONAME) -o $@.0 $^ \
		$(LDLIBS_COMMON)
	$(Q)ln -sf $(notdir $@).0 $@

$(CORE_A): $(CORE_OBJS) | $(O)/lib
	$(call msg,AR,$@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(PC): Makefile | $(O)/lib
	$(call msg,GEN,$@)
	$(Q)printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(LIBDIR)' \
		'includedir=$(INCDIR)' '' 'Name: ringside' \
		'Description: read ringside batches from shared memory' \
		'Version: $(VERSION)' 'Libs: -L$${libdir} -lringside' \
		'Libs.private: -lpthread' 'Cflags: -I$${includedir}' > $@

$(O)/bin/ringsided: $(OBJ)/engine/main.o $(CORE_A) $(LIB_A) | $(O)/bin
	$(call msg,LD,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< $(ENGINE_LIBS)

CLIENT_LIBS_top := -lncursesw
CLIENT_LIBS_exporter := -lmicrohttpd
NATS_LIBS := $(or $(shell pkg-config --libs libnats 2>/dev/null),-lnats)
FLEET_OBJ := $(OBJ)/clients/fleet.o

# The bridge wraps the cluster in the engine's own backoff and breaker.
$(O)/bin/ringside-bridge: $(OBJ)/clients/bridge.o $(FLEET_OBJ) \
		$(CLIENT_COMMON) $(CORE_A) $(LIB_A) | $(O)/bin
	$(call msg,LD,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< $(FLEET_OBJ) $(CLIENT_COMMON) \
		$(CORE_A) $(LIB_A) $(NATS_LIBS) $(LDLIBS_COMMON)

$(O)/bin/ringside-%: $(OBJ)/clients/%.o $(CLIENT_COMMON) $(LIB_A) | $(O)/bin
	$(call msg,LD,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< $(CLIENT_COMMON) $(LIB_A) \
		$(CLIENT_LIBS_$*) $(LDLIBS_COMMON)

$(O)/bin/ringside-%: $(OBJ)/bench/%.o $(BENCH_COMMON) $(CORE_A) $(LIB_A) | $(O)/bin
	$(call msg,LD,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< $(BENCH_COMMON) $(ENGINE_LIBS)

$(O)/bench/peer-%: $(OBJ)/bench/baselines/%.o $(PEER_COMMON) $(CORE_A) \
		$(LIB_A) | $(O)/bench
	$(call msg,LD,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< $(PEER_COMMON) $(ENGINE_LIBS)

$(TEST_RUNNER): $(TEST_OBJS) $(FLEET_OBJ) $(CORE_A) $(LIB_A) | $(O)/tests
	$(call msg,LD,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $(TEST_OBJS) $(FLEET_OBJ) $(ENGINE_LIBS) \
		$(NATS_LIBS) -lcriterion

$(O)/tests/stress_%: $(OBJ)/tests/stress_%.o $(CORE_A) $(LIB_A) | $(O)/tests
	$(call msg,LD,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< $(ENGINE_LIBS)

$(O)/tests/tool_%: tests/tool_%.c $(LIB_A) | $(O)/tests
	$(call msg,LD,$@)
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(TOOL_CFLAGS_$*) -o $@ $< \
		$(LIB_A) $(TOOL_LIBS_$*) $(LDLIBS_COMMON)

# Packages from Debian that building, testing and the demo need; deps
# installs those missing (through sudo when not root) and is silent when
# none is.
DEB_PACKAGES := gcc make pkg-config liburing-dev libcriterion-dev \
	libinih-dev libncurses-dev libmicrohttpd-dev libfuse3-dev fuse3 \
	clang-format python3 tmux gnuplot-nox clang libclang-rt-14-dev \
	faketime valgrind libnats-dev nats-server
# promtool checks the exporter's output; its package recommends much that
# the tests do not need.
DEB_PACKAGES_NORECOMMENDS := prometheus
deps:
	$(Q)missing() { for p in "$$@"; do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
		grep -q '^install ok installed' || echo $$p; done; }; \
	m1=$$(missing $(DEB_PACKAGES)); \
	m2=$$(missing $(DEB_PACKAGES_NORECOMMENDS)); \
	[ -z "$$m1$$m2" ] && exit 0; \
	echo "  DEPS    installing:" $$m1 $$m2; \
	sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	export DEBIAN_FRONTEND=noninteractive; \
	$$sudo apt-get update -qq || exit 1; \
	[ -z "$$m1" ] || $$sudo apt-get install -y -qq $$m1 >/dev/null || exit 1; \
	[ -z "$$m2" ] || $$sudo apt-get install -y -qq --no-install-recommends \
		$$m2 >/dev/null || exit 1

# The stress programs run first so that the Criterion suite's summary
# line ends the run; the tests find the programs through RINGSIDE_BIN.
check: deps all
	$(Q)for t in $(STRESS_PROGS); do echo "  STRESS  $$t"; \
		$$t || exit 1; done
	$(Q)$(if $(SANITIZE),true,echo "  INSTALL tests/check_install.sh" && \
		sh tests/check_install.sh $(O))
	$(Q)RINGSIDE_BIN=$(abspath $(O)/bin) RINGSIDE_LIB=$(abspath $(O)/lib) \
		RINGSIDE_TESTS=$(abspath $(O)/tests) RINGSIDE_SANITIZE=$(SANITIZE) \
		$(TEST_RUNNER) $(TESTFLAGS)

# The concurrency tests alone: what CI runs under ThreadSanitizer.
check-stress: all
	$(Q)for t in $(STRESS_PROGS); do echo "  STRESS  $$t"; \
		$$t || exit 1; done

demo: deps all
	$(Q)$(O)/bin/ringsided --demo

# ringside-bench (bench/bench.c, docs/bench.md): --quick is the small
# matrix, under 10 minutes on 2 cores; --full every kind and size.
# Results in bench/results/ (latest.json, latest.md, cpu.svg, lateness.svg).
BENCH_ENV = RINGSIDE_BIN=$(abspath $(O)/bin) RINGSIDE_SRC=$(CURDIR)
bench: deps all
	$(Q)$(BENCH_ENV) $(O)/bin/ringside-bench --quick --out bench/results

bench-full: deps all
	$(Q)$(BENCH_ENV) $(O)/bin/ringside-bench --full --out bench/results

# ringside-soak (bench/soak.c, docs/soak.md): RSS, fds and lateness of
# ringsided on 2000 sensors, 20% faulty, for SOAK_MINUTES.
SOAK_MINUTES ?= 30
SOAK_FLAGS ?=
soak: all
	$(Q)$(O)/bin/ringside-soak --minutes $(SOAK_MINUTES) --csv $(O)/soak.csv \
		$(SOAK_FLAGS)

# valgrind memcheck of a 30 s run with every source kind (skips without
# valgrind).
memcheck: all
	$(Q)sh tests/memcheck.sh $(O)

# Fuzzing (libFuzzer): each tests/fuzz/fuzz_NAME.c is $(O)/fuzz/NAME, built
# by clang together with the sources it covers, so that they are
# instrumented.  `make fuzz` runs every target for FUZZ_SECONDS on its
# seeds, tests/fuzz/corpus/NAME, which it only reads: new inputs go to
# $(O)/fuzz/corpus/NAME, a crash to $(O)/fuzz/NAME-crash-*, the log to
# $(O)/fuzz/NAME.log.  `make fuzz-NAME` runs one.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_FLAGS := -g -O1 -fno-omit-frame-pointer \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_RUN_FLAGS := -max_len=16384 -timeout=10 -print_final_stats=1
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_DEPS := $(wildcard tests/fuzz/*.h engine/*.[ch] shm/*.[ch])
FUZZ_SRCS_config := engine/config.c engine/value.c
FUZZ_SRCS_value := engine/value.c
FUZZ_SRCS_frame := engine/frame.c
FUZZ_SRCS_reader := $(LIB_SRCS)
FUZZ_SRCS_reader_fd := $(LIB_SRCS)
FUZZ_LIBS_config := -linih
FUZZ_SEEDS_reader_fd := reader

$(O)/fuzz:
	$(Q)mkdir -p $@

$(O)/fuzz/%: tests/fuzz/fuzz_%.c $(FUZZ_DEPS) | $(O)/fuzz
	$(call msg,FUZZCC,$@)
	$(Q)$(FUZZ_CC) -std=c11 $(WARN) $(FUZZ_FLAGS) $(CPPFLAGS) -o $@ $< \
		$(FUZZ_SRCS_$*) $(FUZZ_LIBS_$*) $(LDLIBS_COMMON)

fuzz: $(FUZZ_NAMES:%=fuzz-%)

fuzz-%: $(O)/fuzz/%
	$(call msg,FUZZ,$*)
	$(Q)mkdir -p $(O)/fuzz/corpus/$*
	$(Q)$< $(FUZZ_RUN_FLAGS) -max_total_time=$(FUZZ_SECONDS) \
		-artifact_prefix=$(O)/fuzz/$*- $(O)/fuzz/corpus/$* \
		tests/fuzz/corpus/$(or $(FUZZ_SEEDS_$*),$*) \
		>$(O)/fuzz/$*.log 2>&1 || \
		{ tail -n 40 $(O)/fuzz/$*.log; exit 1; }
	$(Q)grep -h 'DONE' $(O)/fuzz/$*.log | sed 's/^/  FUZZ    $* /'

FORMATTED := $(wildcard */*.c */*.h */*/*.c */*/*.h)
format-check:
	$(Q)clang-format --dry-run --Werror $(FORMATTED)

format:
	$(Q)clang-format -i $(FORMATTED)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBDIR) \
		$(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCDIR)
	install -m 755 $(O)/bin/ringsided $(DESTDIR)$(SBINDIR)/
	for p in $(filter-out $(O)/bin/ringsided,$(PROGS)); do \
		install -m 755 $$p $(DESTDIR)$(BINDIR)/ || exit 1; done
	install -m 644 $(LIB_A) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(LIB_SO).0 $(DESTDIR)$(LIBDIR)/
	ln -sf $(LIB_SONAME) $(DESTDIR)$(LIBDIR)/libringside.so
	install -m 644 shm/ringside.h $(DESTDIR)$(INCDIR)/
	install -m 644 $(PC) $(DESTDIR)$(LIBDIR)/pkgconfig/
	for m in $(wildcard docs/*.1 docs/*.8); do \
		s=$${m##*.}; install -d $(DESTDIR)$(MANDIR)/man$$s && \
		install -m 644 $$m $(DESTDIR)$(MANDIR)/man$$s/ || exit 1; done

clean:
	rm -rf $(O)

# Objects reached through pattern rules are kept, not deleted as
# intermediates (which rebuilt them every time and printed after the tests).
.SECONDARY:

.PHONY: all deps check check-stress demo bench bench-full fuzz soak \
	memcheck format format-check install clean

-include $(wildcard $(OBJ)/*/*.d $(OBJ)/*/*/*.d $(OBJ)/pic/*/*.d)
