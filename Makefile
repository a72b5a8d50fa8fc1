# edgefusion -- the only build entry point.
#   make            library + CLI (build/edgefusion)
#   make demo       build, then generate build/demo.png with the bundled fixture pipeline
#   make test       build and run the test suite (no Python, no network)
#   make asan       the test suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   make fuzz       libFuzzer targets (clang), FUZZ_SECONDS each
#   make bench      benchmarks (not tests)
#   make golden     regenerate tests/fixtures with scripts/gen_golden.py (needs Python + pip)
CC      ?= cc
BUILD   ?= build
OPT     ?= -O2
WERROR  ?=
CFLAGS_BASE = -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Wshadow -Wstrict-prototypes \
              -Wno-unused-parameter $(WERROR) -Iinclude -Isrc -MMD -MP
DEPS_CFLAGS := $(shell pkg-config --cflags libcjson libutf8proc libpng libcrypto 2>/dev/null)
DEPS_LIBS   := $(shell pkg-config --libs libcjson libutf8proc libpng libcrypto 2>/dev/null || echo -lcjson -lutf8proc -lpng16 -lcrypto)
CFLAGS  += $(CFLAGS_BASE) $(OPT) -g $(DEPS_CFLAGS)
LDLIBS  += $(DEPS_LIBS) -lpthread -lm

# Kernel folders of the other ISA are left out: src/kernels/x86/ builds only for an x86_64
# CC, src/kernels/arm/ only for an aarch64 (arm64) one (ARCH: CC's target triple).
ARCH      := $(shell $(CC) -dumpmachine)
ARCH_SKIP := $(if $(filter x86_64%,$(ARCH)),,src/kernels/x86/%) $(if $(filter aarch64% arm64%,$(ARCH)),,src/kernels/arm/%)
LIB_SRC   := $(filter-out $(ARCH_SKIP),$(sort $(wildcard src/*.c src/*/*.c src/*/*/*.c)))
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
TEST_SRC  := $(sort $(wildcard tests/*.c))
TEST_OBJ  := $(TEST_SRC:%.c=$(BUILD)/%.o)
LIB       := $(BUILD)/libedgefusion.a
CLI       := $(BUILD)/edgefusion
TESTBIN   := $(BUILD)/ef_tests

# ISA-specific kernel files get their flags here, never through #if in kernel bodies.
# Reference kernels: -O3 lets GCC vectorise across output elements; without -mfma or
# -ffast-math nothing is contracted or reassociated, so results are bit-identical to -O2.
$(BUILD)/src/kernels/ref/%.o:        EXTRA_CFLAGS = -O3
$(BUILD)/src/kernels/gemm/%.o:       EXTRA_CFLAGS = -O3
$(BUILD)/src/kernels/x86/%_avx2.o:   EXTRA_CFLAGS = -mavx2 -mfma -mf16c
# The GEMM files include the Winograd kernel (gemm/winograd_impl.h), whose transforms are
# plain loops over 16 lanes: -O3 vectorises them (2x faster than -O2's cheap model).
$(BUILD)/src/kernels/x86/gemm_avx2.o: EXTRA_CFLAGS = -O3 -mavx2 -mfma -mf16c
$(BUILD)/src/kernels/arm/gemm_neon.o: EXTRA_CFLAGS = -O3
$(BUILD)/src/kernels/x86/%_avx512.o: EXTRA_CFLAGS = -mavx512f -mavx512bw -mavx512vl -mavx512dq -mfma -mf16c

.PHONY: all demo test test-neon asan fuzz bench golden clean
all: $(CLI) $(LIB)

# The main job on the bundled random-weight fixture pipeline (see README).
DEMO_PROMPT ?= a watercolor painting of a fox in the snow
demo: $(CLI)
	./$(CLI) -m tests/fixtures/tiny-pipe -p "$(DEMO_PROMPT)" -s 42 -o $(BUILD)/demo.png

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(EXTRA_CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

CLI_OBJ := $(BUILD)/tools/cli/main.o $(BUILD)/tools/cli/args.o $(BUILD)/tools/cli/progress.o
$(CLI): $(CLI_OBJ) $(LIB)
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

$(TESTBIN): $(TEST_OBJ) $(LIB)
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

# The header must compile on its own as C and as C++.
$(BUILD)/header_cpp.o: tests/header/test_header_cpp.cpp include/edgefusion.h
	@mkdir -p $(dir $@)
	@if command -v c++ >/dev/null; then c++ -std=c++11 -Wall -Wextra -Werror -Iinclude -c $< -o $@; else touch $@; fi

test: $(TESTBIN) $(CLI) $(BUILD)/header_cpp.o
	EF_FIXTURES=tests/fixtures EF_CLI=$(CLI) ./$(TESTBIN)

# Sanitizer build lives in its own folder so it never mixes objects with the normal one.
asan:
	$(MAKE) BUILD=build-asan OPT="-O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	        LDFLAGS="-fsanitize=address,undefined" test

# The aarch64 build (NEON kernels) cross-compiled into build-neon/ and run under qemu-user
# (scripts/install_deps.sh --cross installs both and the arm64 libraries). NEON_TESTS, a
# test-name filter, narrows the run (e.g. NEON_TESTS=kernels); empty runs the whole suite.
# No -L /usr/aarch64-linux-gnu: the arm64 libraries, libc included, come from Debian
# multiarch (/lib/aarch64-linux-gnu); with -L, qemu loads the cross package's ld.so beside
# multiarch's libc and the tests ran over 1000x slower.
NEON_CC    ?= aarch64-linux-gnu-gcc
NEON_QEMU  ?= qemu-aarch64
NEON_TESTS ?=
test-neon:
	PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig \
	  $(MAKE) CC=$(NEON_CC) BUILD=build-neon build-neon/ef_tests build-neon/edgefusion
	EF_FIXTURES=tests/fixtures EF_CLI="$(NEON_QEMU) build-neon/edgefusion" $(NEON_QEMU) build-neon/ef_tests $(NEON_TESTS)

FUZZ_SECONDS ?= 300
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
fuzz:
	$(MAKE) BUILD=build-fuzz CC=clang OPT="-O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined" build-fuzz/libedgefusion.a
	@for t in $(FUZZ_TARGETS); do \
	  clang -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Iinclude -Isrc $(DEPS_CFLAGS) \
	    tests/fuzz/$$t.c build-fuzz/libedgefusion.a $(DEPS_LIBS) -lpthread -lm -o build-fuzz/$$t || exit 1; \
	  mkdir -p build-fuzz/corpus-$$t; \
	  if [ -d tests/fuzz/seeds/$$t ]; then cp -n tests/fuzz/seeds/$$t/* build-fuzz/corpus-$$t/ 2>/dev/null; fi; \
	  echo "== $$t ($(FUZZ_SECONDS)s)"; \
	  : "ASan quarantine capped: the default let freed PNG buffers pile past the 2 GB rss limit"; \
	  ASAN_OPTIONS=quarantine_size_mb=64:$$ASAN_OPTIONS ./build-fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -artifact_prefix=build-fuzz/$$t- \
	    build-fuzz/corpus-$$t > build-fuzz/$$t.log 2>&1; rc=$$?; \
	  if [ $$rc -ne 0 ]; then tail -n 80 build-fuzz/$$t.log; echo "== $$t FAILED (exit $$rc): full log build-fuzz/$$t.log"; exit 1; fi; \
	  grep '^stat::' build-fuzz/$$t.log; \
	done

# Benchmarks (bench/): programs linking the library; `make bench` builds them all into
# $(BUILD)/bench/ and runs the kernel bench (BENCH_ARGS, e.g. "avx2 -t 2", are passed on).
# bench_pipeline needs a model folder: see bench/RESULTS.md "Benchmarks".
BENCH_BINS := $(BUILD)/bench/bench_kernels $(BUILD)/bench/bench_pipeline
ifneq ($(filter x86_64%,$(shell $(CC) -dumpmachine)),)
BENCH_PEAK := $(BUILD)/bench/peak_avx2.o
else
BENCH_PEAK := $(BUILD)/bench/peak_none.o
endif
$(BUILD)/bench/%_avx2.o: EXTRA_CFLAGS = -mavx2 -mfma
BENCH_ARGS ?=
bench: $(BENCH_BINS)
	./$(BUILD)/bench/bench_kernels $(BENCH_ARGS)

$(BUILD)/bench/bench_kernels: $(BUILD)/bench/bench_kernels.o $(BENCH_PEAK) $(LIB)
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

$(BUILD)/bench/bench_pipeline: $(BUILD)/bench/bench_pipeline.o $(LIB)
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

GOLDEN_PY ?= $(shell test -x /opt/efgold/bin/python && echo /opt/efgold/bin/python || echo python3)
golden:
	$(GOLDEN_PY) scripts/gen_golden.py

clean:
	rm -rf build build-asan build-fuzz build-neon

-include $(LIB_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(wildcard $(BUILD)/bench/*.d)
