# Agora - the two commands are `make run` and `make test`; see README.md.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
CMAKE_GEN  := cmake -S . -Wno-dev

.PHONY: all setup build build-asan run test unit e2e fuzz bench format clean

all: build

setup:
	@scripts/setup.sh

build: setup
	@$(CMAKE_GEN) -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

build-asan: setup
	@$(CMAKE_GEN) -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DAGORA_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j$(JOBS)

# Starts the node on http://127.0.0.1:8080 with a demo marketplace; Ctrl-C stops it.
run: build
	@BUILD=$(BUILD) scripts/run.sh

# Every test, under AddressSanitizer and UndefinedBehaviorSanitizer; the
# optimized build is compiled too, so its warnings count.
test: build build-asan
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j$(JOBS) --timeout 900

unit: build-asan
	@cd $(ASAN_BUILD) && ctest --output-on-failure -j$(JOBS) -E '^e2e\.'

e2e: build-asan
	@cd $(ASAN_BUILD) && ctest --output-on-failure -R '^e2e\.'

# libFuzzer on every driver in fuzz/ for FUZZ_SECONDS each (clang), then the
# model-card renderer's own fuzzer in chromium; inputs that find something
# go to fuzz/corpus/<driver>/ to be kept.
FUZZ_SECONDS ?= 60
fuzz: setup
	@CC=clang $(CMAKE_GEN) -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DAGORA_SANITIZE=ON \
	  -DAGORA_FUZZ=ON -DAGORA_WERROR=OFF >/dev/null
	@cmake --build build-fuzz -j$(JOBS) --target $$(cd fuzz && ls fuzz_*.c | sed 's/\.c$$//' | tr '\n' ' ')
	@for f in fuzz/fuzz_*.c; do n=$$(basename $$f .c); w=$${n#fuzz_}; \
	  [ -x build-fuzz/fuzz/$$n ] || continue; echo "fuzz: $$w ($(FUZZ_SECONDS) s)"; \
	  mkdir -p build-fuzz/corpus/$$w; \
	  build-fuzz/fuzz/$$n -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=fuzz/corpus/$$w/crash- \
	    build-fuzz/corpus/$$w fuzz/corpus/$$w || exit 1; done
	@echo "fuzz: web_markdown ($(FUZZ_SECONDS) s, in chromium)"
	@node fuzz/fuzz_web_markdown.mjs fuzz/corpus/web_markdown --seconds $(FUZZ_SECONDS)

bench: build
	@BUILD=$(BUILD) bench/run.sh

format:
	@find src tests -name '*.[ch]' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
