# memaudit — top-level build.
#
#   make            build/libaudit.so and build/memaudit
#   make demo       install missing packages, build, record examples/ and print the report
#   make check      build and run every test (unit, golden, integration, and the
#                   integration suite again with MEMAUDIT_CROSSCHECK=1)
#   make bench      side-by-side speed benchmark (see bench/)
#   make fuzz       libFuzzer targets for the trace and profile readers
#                   (clang; FUZZ_TIME=600 seconds each, see fuzz/run.sh)
#   make install PREFIX=/usr/local
#
# SAN=address|undefined|thread builds the offline tools and unit tests with a
# sanitizer (never the preload library: a sanitized shim must not enter a host).

CC      ?= cc
PREFIX  ?= /usr/local
BUILD   ?= build
WERROR  ?= $(if $(CI),-Werror,)

WARN    := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes -Wformat=2 $(WERROR)
CFLAGS_BASE := -std=c11 -g -O2 -D_GNU_SOURCE $(WARN) -Icommon
SANFLAGS := $(if $(SAN),-fsanitize=$(SAN) -fno-omit-frame-pointer,)

PRELOAD_CFLAGS := $(CFLAGS_BASE) -fPIC -fvisibility=hidden -ftls-model=initial-exec \
                  -fno-builtin-malloc -fno-builtin-free -fno-builtin-calloc \
                  -fno-builtin-realloc -fno-stack-protector
PRELOAD_LDFLAGS := -shared -Wl,-z,defs -Wl,-z,now -ldl -lpthread

TOOL_CFLAGS  := $(CFLAGS_BASE) $(SANFLAGS) -Isymbolizer -Ireporter
TOOL_LIBS    := -ldw -lelf -lcjson -liberty -lz -lzstd -lpthread

PRELOAD_SRC := $(wildcard preload/*.c)
SYM_SRC     := $(wildcard symbolizer/*.c)
REP_SRC     := $(filter-out reporter/cli%,$(wildcard reporter/*.c))
CLI_SRC     := $(wildcard reporter/cli*.c)

PRELOAD_OBJ := $(PRELOAD_SRC:%.c=$(BUILD)/obj-preload/%.o)
# The same recorder sources compiled as ordinary objects, for unit tests.
# hooks.c is left out: it defines malloc, which would interpose the test itself.
# flusher.c too: it starts a thread that would write into the test's trace.
PRELOAD_UOBJ := $(patsubst %.c,$(BUILD)/obj-unit/%.o,$(filter-out preload/hooks.c preload/signal.c preload/flusher.c,$(PRELOAD_SRC)))
LIB_OBJ     := $(SYM_SRC:%.c=$(BUILD)/obj/%.o) $(REP_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ     := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)

UNIT_SRC    := $(wildcard tests/unit/test_*.c)
UNIT_BIN    := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
# tests/progs/lib*.c are shared libraries the programs dlopen.
PROG_SRC    := $(filter-out tests/progs/lib%.c,$(wildcard tests/progs/*.c))
PROG_BIN    := $(PROG_SRC:tests/progs/%.c=$(BUILD)/progs/%) \
               $(patsubst tests/progs/%.c,$(BUILD)/progs/%.so,$(wildcard tests/progs/lib*.c))
# C++ target programs (operator new/delete, exceptions).
PROG_BIN    += $(patsubst tests/progs/%.cpp,$(BUILD)/progs/%,$(wildcard tests/progs/*.cpp))
TOOL_SRC    := $(wildcard tests/tools/*.c)
TOOL_BIN    := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%)
EXAMPLE_SRC := $(wildcard examples/*.c)
EXAMPLE_BIN := $(EXAMPLE_SRC:examples/%.c=$(BUILD)/examples/%)
# examples/strset: a library and its CMocka suite, the CI example (docs/ci.md),
# built as is and with the two regressions its test injects (-DINJECT_LEAK,
# -DDOUBLE_PEAK); the three binaries share a name, so their sites match.
STRSET_DEP  := $(wildcard examples/strset/*.[ch])
STRSET_BIN  := $(BUILD)/examples/strset/test_strset $(BUILD)/examples/strset/leak/test_strset \
               $(BUILD)/examples/strset/peak/test_strset
EXAMPLE_BIN += $(STRSET_BIN)

.PHONY: all deps demo check unit integration crosscheck sanitize bench fuzz install clean format
all: $(BUILD)/libaudit.so $(BUILD)/memaudit

$(BUILD)/libaudit.so: $(PRELOAD_OBJ)
	$(CC) -o $@ $^ $(PRELOAD_LDFLAGS)

$(BUILD)/memaudit: $(CLI_OBJ) $(LIB_OBJ)
	$(CC) $(SANFLAGS) -o $@ $^ $(TOOL_LIBS)

$(BUILD)/obj-preload/%.o: %.c $(wildcard common/*.h preload/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(PRELOAD_CFLAGS) -c -o $@ $<

$(BUILD)/obj-unit/%.o: %.c $(wildcard common/*.h preload/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(SANFLAGS) -fPIC -DMEMAUDIT_UNIT_TEST -c -o $@ $<

$(BUILD)/obj/%.o: %.c $(wildcard common/*.h symbolizer/*.h reporter/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(TOOL_CFLAGS) -c -o $@ $<

# render_html.c embeds the page's script, style and skeleton (.incbin).
$(BUILD)/obj/reporter/render_html.o: $(wildcard reporter/html/*)

# Unit tests link the objects, not the .so (STYLE.md).
$(BUILD)/tests/test_%: tests/unit/test_%.c $(LIB_OBJ) $(PRELOAD_UOBJ)
	@mkdir -p $(dir $@)
	$(CC) $(TOOL_CFLAGS) -Ipreload -o $@ $< $(LIB_OBJ) $(PRELOAD_UOBJ) $(TOOL_LIBS) -lcmocka -ldl

# Target programs: known allocations, built without optimisation tricks that
# would change what they allocate; frame pointers and -g for exact stacks.
$(BUILD)/progs/%: tests/progs/%.c include/memaudit.h
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -g -O1 -D_GNU_SOURCE -fno-omit-frame-pointer -fno-builtin -fno-inline \
	    -Wall -o $@ $< -lpthread -ldl

$(BUILD)/progs/lib%.so: tests/progs/lib%.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -g -O1 -D_GNU_SOURCE -fno-omit-frame-pointer -fno-builtin -fno-inline \
	    -Wall -fPIC -shared -o $@ $<

$(BUILD)/progs/%: tests/progs/%.cpp
	@mkdir -p $(dir $@)
	$(CXX) -std=c++17 -g -O1 -fno-omit-frame-pointer -fno-inline -Wall -o $@ $< -lpthread

$(BUILD)/tools/%: tests/tools/%.c
	@mkdir -p $(dir $@)
	$(CC) $(TOOL_CFLAGS) -o $@ $< -lcjson

# wmcheck reads compressed blocks itself.
$(BUILD)/tools/wmcheck: tests/tools/wmcheck.c common/trace_format.h
	@mkdir -p $(dir $@)
	$(CC) $(TOOL_CFLAGS) -o $@ $< -lzstd

# follow reads traces through the trace reader itself.
$(BUILD)/tools/follow: tests/tools/follow.c $(BUILD)/obj/symbolizer/trace_reader.o \
                       $(BUILD)/obj/symbolizer/modmap.o
	@mkdir -p $(dir $@)
	$(CC) $(TOOL_CFLAGS) -o $@ $^ -lzstd -lpthread

$(BUILD)/examples/%: examples/%.c include/memaudit.h
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -g -O1 -D_GNU_SOURCE -Wall -Iinclude -o $@ $< -lpthread

$(BUILD)/examples/strset/test_strset: $(STRSET_DEP)
$(BUILD)/examples/strset/leak/test_strset: STRSET_DEFS := -DINJECT_LEAK
$(BUILD)/examples/strset/leak/test_strset: $(STRSET_DEP)
$(BUILD)/examples/strset/peak/test_strset: STRSET_DEFS := -DDOUBLE_PEAK
$(BUILD)/examples/strset/peak/test_strset: $(STRSET_DEP)
$(STRSET_BIN):
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -g -O1 -D_GNU_SOURCE -fno-omit-frame-pointer -fno-inline -Wall $(STRSET_DEFS) \
	    -o $@ examples/strset/strset.c examples/strset/test_strset.c -lcmocka

deps:
	@sh scripts/deps.sh

demo: deps
	@$(MAKE) --no-print-directory all $(EXAMPLE_BIN)
	@sh scripts/demo.sh $(BUILD)

unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; timeout 120 $$t; done

integration: all $(PROG_BIN) $(TOOL_BIN) $(EXAMPLE_BIN)
	@sh tests/integration/run.sh $(BUILD)

# The integration suite again with every stack cross-checked (issue 7).
crosscheck: all $(PROG_BIN) $(TOOL_BIN) $(EXAMPLE_BIN)
	@sh tests/integration/crosscheck-all.sh $(BUILD)

check: deps
	@$(MAKE) --no-print-directory all $(UNIT_BIN) $(PROG_BIN) $(TOOL_BIN) $(EXAMPLE_BIN)
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory integration
	@$(MAKE) --no-print-directory crosscheck
	@$(MAKE) --no-print-directory sanitize

# The unit tests again, built with AddressSanitizer (and its leak checker)
# and UndefinedBehaviorSanitizer; any report fails them.
sanitize:
	@UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	    $(MAKE) --no-print-directory SAN=address,undefined BUILD=$(BUILD)/san unit

# deps first: on a fresh machine the build itself needs them.
bench:
	@sh scripts/deps.sh --bench
	@$(MAKE) --no-print-directory all
	@sh bench/run.sh $(BUILD)

# libFuzzer needs clang; the readers and everything that consumes their
# output are compiled into each target with ASan and UBSan.
FUZZ_CC     ?= clang
FUZZ_TIME   ?= 600
FUZZ_CFLAGS := -std=c11 -g -O1 -D_GNU_SOURCE -Icommon -Isymbolizer -Ireporter \
               -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_BIN    := $(patsubst fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard fuzz/fuzz_*.c))

$(BUILD)/fuzz/fuzz_%: fuzz/fuzz_%.c $(SYM_SRC) $(REP_SRC) $(wildcard common/*.h symbolizer/*.h reporter/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(SYM_SRC) $(filter-out reporter/cli%,$(REP_SRC)) $(TOOL_LIBS)

fuzz: all $(PROG_BIN) $(FUZZ_BIN)
	@sh fuzz/run.sh $(BUILD) $(FUZZ_TIME)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/memaudit \
	    $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/share/doc/memaudit/docs \
	    $(DESTDIR)$(PREFIX)/share/doc/memaudit/bench
	install -m 0755 $(BUILD)/memaudit $(DESTDIR)$(PREFIX)/bin/memaudit
	install -m 0644 $(BUILD)/libaudit.so $(DESTDIR)$(PREFIX)/lib/memaudit/libaudit.so
	install -m 0644 include/memaudit.h $(DESTDIR)$(PREFIX)/include/memaudit.h
	# The tree README.md's links expect: docs/, bench/RESULTS.md.
	install -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/memaudit/
	install -m 0644 docs/*.md $(DESTDIR)$(PREFIX)/share/doc/memaudit/docs/
	install -m 0644 bench/README.md bench/RESULTS.md $(DESTDIR)$(PREFIX)/share/doc/memaudit/bench/

format:
	@# Not tests/progs, tests/symbolizer, examples, test_symbolizer.c: tests check their lines.
	clang-format -i $(wildcard common/*.h preload/*.[ch] symbolizer/*.[ch] reporter/*.[ch] \
	    $(filter-out tests/unit/test_symbolizer.c,$(wildcard tests/unit/*.c)) tests/tools/*.c)

clean:
	rm -rf $(BUILD)
