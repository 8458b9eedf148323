# tristack - build, test, run.
#
#   make            build every binary into build/bin/
#   make test       install what is missing, build, run unit + e2e tests + a fuzz smoke run
#   make run        install what is missing, build, bring the stack up, print its URL
#                   (as root: the isolated lab; ISOLATED=0 for the loopback stack;
#                   HA=1: the highly available layout, two LBs on a floating address)
#   make asan       the whole test suite on an ASan + UBSan build (build-asan/)
#   make fuzz       every libFuzzer target for FUZZ_SECONDS (default 60) each
#   make bench      the side-by-side benchmarks against HAProxy and nginx
#   make faults     every fault scenario under load, full length (tests/faults/faults.py)
#   make format     apply .clang-format;  make format-check  to verify it
#   make clean

CC      ?= cc
BUILD   ?= build
SAN     ?=
PYTHON  ?= /usr/bin/python3
FUZZ_SECONDS ?= 60
# The fuzz smoke run of `make test`: this many seconds shared by all targets.
FUZZ_SMOKE_SECONDS ?= 30

WARN    = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla
CFLAGS_COMMON = -std=c17 -g $(WARN) -D_GNU_SOURCE -Isrc -I/usr/include/mariadb -MMD -MP -pthread
ifeq ($(SAN),1)
OPT     = -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined \
          -DTS_PLAIN_MALLOC
LDSAN   = -fsanitize=address,undefined
else
OPT     = -O2
LDSAN   =
endif
CFLAGS  = $(CFLAGS_COMMON) $(OPT) $(EXTRA_CFLAGS)
LDFLAGS = -pthread $(LDSAN)

LIBS_CORE = -linih -lssl -lcrypto -lm
LIBS_MARIADB = $(shell pkg-config --libs libmariadb 2>/dev/null || echo -lmariadb)
LIBS_APP  = $(LIBS_MARIADB) -ljansson
LIBS_DNS  = -lldns
LIBS_WEB  = -lz

OBJ = $(BUILD)/obj
BIN = $(BUILD)/bin

CORE_SRC = $(wildcard src/core/*.c)
# The stack file: src/conf and each daemon's section (its *_conf.c), one
# library every binary links, so that each checks the whole file.
CONF_SECTION_SRC = src/lb/lb_conf.c src/web/web_conf.c src/app/app_conf.c src/dns/dns_conf.c \
                   src/ctl/mon_conf.c src/ctl/vrrp_conf.c
CONF_SRC = $(wildcard src/conf/*.c) $(CONF_SECTION_SRC)
LB_SRC   = $(filter-out $(CONF_SECTION_SRC),$(wildcard src/lb/*.c))
WEB_SRC  = $(filter-out $(CONF_SECTION_SRC),$(wildcard src/web/*.c))
APP_SRC  = $(filter-out $(CONF_SECTION_SRC),$(wildcard src/app/*.c src/app/site/*.c))
DNS_SRC  = $(filter-out $(CONF_SECTION_SRC),$(wildcard src/dns/*.c))
CTL_SRC  = $(filter-out $(CONF_SECTION_SRC),$(wildcard src/ctl/*.c))
UNIT_SRC = $(wildcard tests/unit/*.c)
# Daemon files the unit tests link beside core: any file of a daemon but its
# main.c (which has main()). Most are pure (range, mime, balance, command,
# text, sign, answer, binlog_info); zone.c reads zone files, stats.c and
# monitor.c define metrics, ratelimit.c shares memory between threads,
# admin.c keeps the LB servers' states in a file (check.c: its checks).
UNIT_DAEMON_SRC = src/web/range.c src/web/mime.c src/lb/balance.c src/app/text.c \
                  src/app/sign.c src/dns/answer.c src/dns/zone.c src/dns/stats.c \
                  src/lb/monitor.c src/lb/ratelimit.c src/ctl/binlog_info.c \
                  src/lb/command.c src/lb/admin.c src/lb/check.c src/lb/acme.c
FUZZ_SRC = $(wildcard tests/fuzz/fuzz_*.c)

obj = $(patsubst %.c,$(OBJ)/%.o,$(1))

CORE_LIB = $(BUILD)/libtscore.a
CONF_LIB = $(BUILD)/libtsconf.a
BINARIES = $(BIN)/tristack $(BIN)/tristack-lb $(BIN)/tristack-web $(BIN)/tristack-app \
           $(BIN)/tristack-dns
UNIT_BIN = $(BUILD)/tests/unit

.PHONY: faults all test unit e2e asan fuzz fuzz-smoke fuzz-build bench run down deps clean format \
        format-check

all: $(BINARIES)

$(OBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(CORE_LIB): $(call obj,$(CORE_SRC))
	@rm -f $@
	ar rcs $@ $^

$(CONF_LIB): $(call obj,$(CONF_SRC))
	@rm -f $@
	ar rcs $@ $^

# The dashboard's files, built into tristack-lb (src/lb/assets.h).
DASH_FILES = $(sort $(wildcard www/dashboard/*.html www/dashboard/*.js www/dashboard/*.css))
DASH_GEN   = $(BUILD)/gen/dashboard_assets.c

$(DASH_GEN): scripts/embed.sh $(DASH_FILES)
	@mkdir -p $(dir $@)
	sh scripts/embed.sh $@ $(DASH_FILES)

$(BIN)/tristack-lb: $(call obj,$(LB_SRC) $(DASH_GEN)) $(CONF_LIB) $(CORE_LIB)
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_CORE) $(LIBS_DNS)

$(BIN)/tristack-web: $(call obj,$(WEB_SRC)) $(CONF_LIB) $(CORE_LIB)
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_CORE) $(LIBS_WEB)

$(BIN)/tristack-app: $(call obj,$(APP_SRC)) $(CONF_LIB) $(CORE_LIB)
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_CORE) $(LIBS_APP)

$(BIN)/tristack-dns: $(call obj,$(DNS_SRC)) $(CONF_LIB) $(CORE_LIB)
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_CORE) $(LIBS_DNS)

$(BIN)/tristack: $(call obj,$(CTL_SRC)) $(CONF_LIB) $(CORE_LIB)
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_CORE) $(LIBS_MARIADB) -ljansson

$(UNIT_BIN): $(call obj,$(UNIT_SRC) $(UNIT_DAEMON_SRC)) $(CONF_LIB) $(CORE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_CORE) $(LIBS_DNS)

-include $(shell find $(OBJ) -name '*.d' 2>/dev/null)

# ---- set-up ----

deps:
	@scripts/install-deps.sh

# ---- tests ----

unit: $(UNIT_BIN)
	$(UNIT_BIN)

e2e: all
	TRISTACK_BIN=$(abspath $(BIN)) $(PYTHON) -m pytest -q tests/e2e

test: deps
	$(MAKE) format-check
	$(MAKE) all $(UNIT_BIN)
	$(MAKE) unit
	$(MAKE) e2e
	$(MAKE) fuzz-smoke

asan: deps
	$(MAKE) BUILD=build-asan SAN=1 all build-asan/tests/unit
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  build-asan/tests/unit
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  TRISTACK_BIN=$(abspath build-asan/bin) TRISTACK_SANITIZED=1 $(PYTHON) -m pytest -q tests/e2e

# ---- fuzzing (clang + libFuzzer, its own build of core) ----

FUZZ_DIR = build-fuzz
FUZZ_CFLAGS = -std=c17 -g -O1 -D_GNU_SOURCE -Isrc -pthread -DTS_PLAIN_MALLOC \
              -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_TARGETS = $(patsubst tests/fuzz/%.c,$(FUZZ_DIR)/%,$(FUZZ_SRC))

# A target that reaches beyond core names its own sources and libraries:
# FUZZ_EXTRA_SRC_<target> and FUZZ_EXTRA_LIBS_<target>.
FUZZ_EXTRA_SRC_fuzz_web_range = src/web/range.c
FUZZ_EXTRA_SRC_fuzz_app_text  = src/app/text.c
FUZZ_EXTRA_SRC_fuzz_binlog_info = src/ctl/binlog_info.c
FUZZ_EXTRA_SRC_fuzz_lb_command = src/lb/command.c
FUZZ_EXTRA_SRC_fuzz_lb_acme = src/lb/acme.c
FUZZ_EXTRA_SRC_fuzz_dns       = src/dns/answer.c src/dns/zone.c $(CONF_SRC)
FUZZ_EXTRA_LIBS_fuzz_dns      = $(LIBS_DNS)
# The state-machine targets: their harness (real sockets, the real loop).
FUZZ_EXTRA_SRC_fuzz_httpd_session = tests/fuzz/sm.c
FUZZ_EXTRA_SRC_fuzz_proxy_session = tests/fuzz/sm.c
# The stack file's loader: src/conf and every section.
FUZZ_EXTRA_SRC_fuzz_conf = $(CONF_SRC)

.SECONDEXPANSION:
$(FUZZ_DIR)/%: tests/fuzz/%.c $(CORE_SRC) $(wildcard src/*/*.h tests/fuzz/*.h tests/unit/dns_fixture.h) $$(FUZZ_EXTRA_SRC_$$*)
	@mkdir -p $(FUZZ_DIR)
	clang $(FUZZ_CFLAGS) -o $@ $< $(CORE_SRC) $(FUZZ_EXTRA_SRC_$*) $(LIBS_CORE) \
	  $(FUZZ_EXTRA_LIBS_$*)

fuzz-build: $(FUZZ_TARGETS)

fuzz: deps fuzz-build
	scripts/fuzz.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-smoke: fuzz-build
	scripts/fuzz.sh $$(( $(FUZZ_SMOKE_SECONDS) / $(words $(FUZZ_TARGETS)) )) $(FUZZ_TARGETS)

# ---- running ----

# As root: the isolated lab (each host a network namespace, the seed's
# 10.0.0.x, real ports, firewalls); otherwise the loopback stack. ISOLATED=0
# forces loopback. HA=1: conf/foobar-ha.conf (two LBs sharing 10.0.0.1 with
# keepalived), isolated only: root.
HA       ?= 0
ISOLATED ?= $(if $(filter 0,$(shell id -u)),1,$(HA))
RUN_CONF  = $(if $(filter 1,$(HA)),conf/foobar-ha.conf,$(if $(filter 1,$(ISOLATED)),conf/foobar-isolated.conf,conf/foobar.conf))
RUN_FLAGS = $(if $(filter 1,$(ISOLATED)),--isolated,)

run: deps all
	$(BIN)/tristack -c $(RUN_CONF) up $(RUN_FLAGS)

down:
	$(BIN)/tristack -c $(RUN_CONF) down

# Every fault scenario at full length (the short form runs in make test).
# make faults and make bench write what they print, after a header (date,
# commit, machine, tools), to bench/results/NAME-<date>-<commit>.txt
# (bench/record.sh; bench/results/README.md), faults and slowloris with
# their JSON beside it (@STEM@: that file's name without .txt). BENCH_RESULTS=DIR writes elsewhere.
faults: deps all
	TRISTACK_BIN=$(CURDIR)/$(BIN) bash bench/record.sh faults \
		/usr/bin/python3 tests/faults/faults.py --json @STEM@.json
	TRISTACK_BIN=$(CURDIR)/$(BIN) bash bench/record.sh slowloris \
		/usr/bin/python3 tests/faults/slowloris.py --conns 2000 --json @STEM@.json
	TRISTACK_BIN=$(CURDIR)/$(BIN) bash bench/record.sh slowloris-idle \
		/usr/bin/python3 tests/faults/slowloris.py --idle --conns 10000 --json @STEM@.json
	TRISTACK_BIN=$(CURDIR)/$(BIN) bash bench/record.sh slowloris-tls \
		/usr/bin/python3 tests/faults/slowloris.py --conns 0 --tls 2000 --waves 3 --json @STEM@.json

# every bench script, one after the other; a short validation run of all:
#   make bench BENCH_SECONDS=2 BENCH_WARMUP=1 BENCH_ROUNDS=5 BENCH_IDLE_CONNS=500
BENCH_SCRIPTS = $(filter-out bench/lib.sh bench/record.sh,$(wildcard bench/*.sh))

bench: deps all
	@for b in $(BENCH_SCRIPTS); do echo "== $$b"; \
		bash bench/record.sh $$(basename $$b .sh) bash $$b || exit 1; done

# ---- housekeeping ----

FORMAT_FILES = $(wildcard src/*/*.c src/*/*.h src/app/site/*.c src/app/site/*.h tests/unit/*.c \
               tests/unit/*.h tests/fuzz/*.c tests/fuzz/*.h)

format:
	clang-format -i $(FORMAT_FILES)

format-check:
	@clang-format --dry-run --Werror $(FORMAT_FILES) && echo "format: ok"

clean:
	rm -rf build build-asan build-fuzz
