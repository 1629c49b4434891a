# naohai - top-level, non-recursive Makefile.
#
#   make            build every tool into build/
#   make test       unit tests (plain and ASan+UBSan) and CLI tests
#   make demo       nhd on a fresh data dir, the demo corpus imported and
#                   cleaned as a job, lineage, stage table, ground truth
#                   (make demo KEEP=1 leaves nhd running)
#   make bench      throughput benchmarks; figures go to docs/BENCHMARKS.md
#   make fuzz       libFuzzer on nhd's message handler for FUZZ_SECONDS
#   make deps       install the Debian packages the build needs
#   make format-check   clang-format 14 over the sources
#
# Two build trees: build/ (optimised) and build/san/ (ASan+UBSan, -O1 -g),
# and build/fuzz/ (clang, libFuzzer+ASan+UBSan) for the fuzz target.

CC      = cc
B       = build
Q       = @
PKGS    = libcjson libxxhash libutf8proc opencc libzstd zlib gumbo sqlite3 \
          libcrypto
WARN    = -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
          -Wmissing-prototypes -Wold-style-definition -Wwrite-strings \
          -Wpointer-arith -Wformat=2 -Wundef -Wvla -fno-common
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) ompi-c | \
               sed 's/-I/-isystem /g')
PKG_LIBS   = $(shell pkg-config --libs $(PKGS))
LWS_LIBS   = $(shell pkg-config --libs libwebsockets)
CURSES_LIBS = $(shell pkg-config --libs ncursesw)
MPI_LIBS   = $(shell pkg-config --libs ompi-c)
CPPFLAGS = -D_GNU_SOURCE -Icommon -Ipipeline -Iserver -Itrainer -Itests \
           -include common/banned.h
OPT_CFLAGS = -O2 -g -pthread
SAN_CFLAGS = -O1 -g -pthread -fsanitize=address,undefined \
             -fno-sanitize-recover=all -fno-omit-frame-pointer
LDLIBS  = $(PKG_LIBS) -lm -pthread
comma   = ,

COMMON_SRC = $(wildcard common/*.c)
PIPE_SRC   = $(filter-out pipeline/main.c pipeline/mpi.c,\
                $(wildcard pipeline/*.c))
SERVER_SRC = $(filter-out server/nhd.c,$(wildcard server/*.c))
UNIT_SRC   = $(wildcard tests/unit/test-*.c)
TUI_SRC    = $(wildcard tui/*.c)
HEADERS    = $(wildcard common/*.h pipeline/*.h server/*.h tui/*.h tests/*.h \
                trainer/*.h)
# trainer (issue 7): its objects use OpenMP and OpenBLAS's cblas.h; what
# links libnhtrain.a adds TRAIN_LIBS
TRAIN_SRC   = $(filter-out trainer/main.c,$(wildcard trainer/*.c))
BLAS_CFLAGS = $(shell pkg-config --cflags openblas 2>/dev/null | \
                sed 's/-I/-isystem /g')
TRAIN_LIBS  = $(MPI_LIBS) $(shell pkg-config --libs openblas 2>/dev/null || \
                echo -lopenblas) -fopenmp
FUZZ_SECONDS = 60
KEEP      ?=

DEPS_STAMP = $(B)/.deps-stamp

.SECONDARY:
.PHONY: all test unit cli demo bench fuzz deps format-check clean
all: $(B)/nh-clean $(B)/nhd $(B)/nh $(B)/nh-load $(B)/nh-review-load \
     $(B)/nh-train

$(DEPS_STAMP): scripts/deps
	@scripts/deps
	@mkdir -p $(B) && touch $@

deps:
	scripts/deps

# $(1) = tree (build or build/san), $(2) = extra CFLAGS, $(3) = LDFLAGS
define tree
$(1)/obj/%.o: %.c $(HEADERS) | $(DEPS_STAMP)
	@mkdir -p $$(dir $$@)
	@echo "  CC      $$@"
	$$(Q)$$(CC) $$(WARN) $(2) $$(CPPFLAGS) $$(PKG_CFLAGS) $$(XCFLAGS) -c $$< -o $$@

$(1)/obj/trainer/%.o: XCFLAGS = -fopenmp $$(BLAS_CFLAGS)
$(1)/obj/tests/tools/%.o: XCFLAGS = $$(BLAS_CFLAGS)

$(1)/libnhtrain.a: $(TRAIN_SRC:%.c=$(1)/obj/%.o)
	@rm -f $$@
	$$(Q)ar rcs $$@ $$^

# the PyTorch parity driver of tests/cli/t0220-train-parity.sh
$(1)/tests/model-parity: $(1)/obj/tests/tools/model-parity.o \
                         $(1)/libnhtrain.a $(1)/libnhcommon.a
	@mkdir -p $$(dir $$@)
	@echo "  LINK    $$@"
	$$(Q)$$(CC) $(2) $(3) -o $$@ $$^ $$(TRAIN_LIBS) $$(LDLIBS)

$(1)/libnhcommon.a: $(COMMON_SRC:%.c=$(1)/obj/%.o)
	@rm -f $$@
	$$(Q)ar rcs $$@ $$^

$(1)/libnhpipe.a: $(PIPE_SRC:%.c=$(1)/obj/%.o)
	@rm -f $$@
	$$(Q)ar rcs $$@ $$^

$(1)/libnhserver.a: $(SERVER_SRC:%.c=$(1)/obj/%.o)
	@rm -f $$@
	$$(Q)ar rcs $$@ $$^

$(1)/nh-train: $(1)/obj/trainer/main.o $(1)/libnhtrain.a $(1)/libnhpipe.a \
               $(1)/libnhcommon.a
	@echo "  LINK    $$@"
	$$(Q)$$(CC) $(2) $(3) -o $$@ $$^ $$(TRAIN_LIBS) $$(LDLIBS)

$(1)/nh-clean: $(1)/obj/pipeline/main.o $(1)/obj/pipeline/mpi.o \
              $(1)/libnhpipe.a $(1)/libnhcommon.a
	@echo "  LINK    $$@"
	$$(Q)$$(CC) $(2) $(3) -o $$@ $$^ $$(MPI_LIBS) $$(LDLIBS)

$(1)/nhd: $(1)/obj/server/nhd.o $(1)/libnhserver.a $(1)/libnhpipe.a \
          $(1)/libnhcommon.a
	@echo "  LINK    $$@"
	$$(Q)$$(CC) $(2) $(3) -o $$@ $$^ $$(LWS_LIBS) $$(LDLIBS)

$(1)/nh: $(TUI_SRC:%.c=$(1)/obj/%.o) $(1)/libnhcommon.a
	@echo "  LINK    $$@"
	$$(Q)$$(CC) $(2) $(3) -o $$@ $$^ $$(LWS_LIBS) $$(CURSES_LIBS) $$(LDLIBS)

# the text layout and key map tests link nh's tui/text.c and tui/keys.c
$(1)/tests/test-text: $(1)/obj/tui/text.o
$(1)/tests/test-keys: $(1)/obj/tui/keys.o $(1)/obj/tui/text.o

$(1)/nh-load: $(1)/obj/bench/nh-load.o $(1)/libnhcommon.a
	@echo "  LINK    $$@"
	$$(Q)$$(CC) $(2) $(3) -o $$@ $$^ $$(LWS_LIBS) $$(LDLIBS)

$(1)/nh-review-load: $(1)/obj/bench/nh-review-load.o $(1)/obj/tui/client.o \
                     $(1)/libnhcommon.a
	@echo "  LINK    $$@"
	$$(Q)$$(CC) $(2) $(3) -o $$@ $$^ $$(LWS_LIBS) $$(LDLIBS)

$(1)/tests/%: $(1)/obj/tests/unit/%.o $(1)/libnhserver.a $(1)/libnhtrain.a \
              $(1)/libnhpipe.a $(1)/libnhcommon.a
	@mkdir -p $$(dir $$@)
	@echo "  LINK    $$@"
	$$(Q)$$(CC) $(2) $(3) -o $$@ $$(filter %.o,$$^) $$(filter %.a,$$^) \
	    $$(TRAIN_LIBS) $$(LDLIBS)
endef

$(eval $(call tree,$(B),$(OPT_CFLAGS),))
$(eval $(call tree,$(B)/san,$(SAN_CFLAGS),-fsanitize=address$(comma)undefined))

UNIT_BINS = $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%) \
            $(UNIT_SRC:tests/unit/%.c=$(B)/san/tests/%)

# The fuzz tree: every server and common file built by clang with
# coverage instrumentation; the target adds libFuzzer's main.
FUZZ_CC     = clang
FUZZ_CFLAGS = -O1 -g -pthread -fno-omit-frame-pointer \
              -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_OBJ    = $(patsubst %.c,$(B)/fuzz/obj/%.o,$(COMMON_SRC) \
              $(PIPE_SRC) $(filter-out server/net.c,$(SERVER_SRC)))

$(B)/fuzz/obj/%.o: %.c $(HEADERS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(FUZZ_CC) $(WARN) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link \
	    $(CPPFLAGS) $(PKG_CFLAGS) -c $< -o $@

$(B)/fuzz/fuzz-message: fuzz/fuzz-message.c $(FUZZ_OBJ) $(HEADERS)
	@echo "  LINK    $@"
	$(Q)$(FUZZ_CC) $(WARN) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(CPPFLAGS) \
	    -DFUZZ_TOP=\"$(abspath .)\" \
	    $(PKG_CFLAGS) -o $@ fuzz/fuzz-message.c $(FUZZ_OBJ) $(LDLIBS)

test: $(UNIT_BINS) $(B)/nh-clean $(B)/san/nh-clean $(B)/nhd $(B)/san/nhd \
      $(B)/nh $(B)/san/nh $(B)/nh-load $(B)/san/nh-load \
      $(B)/nh-train $(B)/san/nh-train $(B)/fuzz/fuzz-message \
      $(B)/san/tests/model-parity
	@NH_BIN=$(abspath $(B)/san) NH_FUZZ=$(abspath $(B)/fuzz) \
	    tests/run $(UNIT_BINS)

fuzz: $(B)/fuzz/fuzz-message
	@mkdir -p $(B)/fuzz/corpus
	$(B)/fuzz/fuzz-message -max_len=65536 -max_total_time=$(FUZZ_SECONDS) \
	    -print_final_stats=1 $(B)/fuzz/corpus fuzz/corpus

demo: $(B)/nh-clean $(B)/nhd $(B)/nh $(B)/nh-train
	@NH_BIN=$(abspath $(B)) KEEP=$(KEEP) scripts/demo

bench: $(B)/nh-clean $(B)/nhd $(B)/nh-load $(B)/nh-review-load $(B)/nh-train \
       $(B)/tests/test-stage-dedup-minhash
	@NH_BIN=$(abspath $(B)) scripts/bench
	@NH_BIN=$(abspath $(B)) scripts/bench-server
	@NH_BIN=$(abspath $(B)) scripts/bench-review
	@NH_BIN=$(abspath $(B)) scripts/bench-minhash --one
	@NH_BIN=$(abspath $(B)) scripts/bench-classifier
	@NH_BIN=$(abspath $(B)) scripts/bench-lm
	@NH_BIN=$(abspath $(B)) scripts/bench-tokenizer
	@NH_BIN=$(abspath $(B)) scripts/bench-train

format-check:
	clang-format --dry-run --Werror common/*.[ch] pipeline/*.[ch] \
	    server/*.[ch] tui/*.[ch] tests/*.h tests/unit/*.c bench/*.c fuzz/*.c \
	    trainer/*.[ch] tests/tools/*.c

clean:
	rm -rf $(B)
