# labsync: the two commands of the quick start are `make demo` and `make test`.
BUILD_DIR ?= build
BUILD_TYPE ?= Release
CTEST_JOBS ?= 2
CMAKE_FLAGS ?=

.PHONY: all deps deps-demo configure build test demo bench clean format install test-asan test-tsan fuzz

all: build

deps:
	@./scripts/install-deps.sh

deps-demo:
	@./scripts/install-deps.sh demo

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DLABSYNC_WERROR=ON $(CMAKE_FLAGS)

configure: deps $(BUILD_DIR)/build.ninja

build: configure
	cmake --build $(BUILD_DIR)

test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j$(CTEST_JOBS)

# The demo needs two binaries, not the test suite: it builds only those.
demo: deps-demo $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) --target syncd syncd-receiver
	./scripts/demo.sh $(BUILD_DIR)

# UBSan only prints by default; halt so that UB in a child process (syncd, syncd-receiver started
# by a test) fails that test instead of scrolling by.
test-asan:
	UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1 $(UBSAN_OPTIONS)" $(MAKE) test BUILD_DIR=build-asan BUILD_TYPE=Debug CMAKE_FLAGS=-DLABSYNC_SANITIZE=address,undefined

# GCC warns (-Wtsan, an error under LABSYNC_WERROR) that TSan does not model atomic_thread_fence,
# which libstdc++ and Asio use; the suppressions file lists the reports that follow from it.
test-tsan:
	TSAN_OPTIONS="suppressions=$(CURDIR)/tests/tsan.supp $(TSAN_OPTIONS)" $(MAKE) test BUILD_DIR=build-tsan BUILD_TYPE=Debug \
	  CMAKE_FLAGS="-DLABSYNC_SANITIZE=thread -DCMAKE_CXX_FLAGS=-Wno-tsan"

install: build
	cmake --install $(BUILD_DIR)

format:
	git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR)

FUZZ_SECONDS ?= 30
fuzz: deps
	CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Debug -DLABSYNC_FUZZ=ON -DLABSYNC_BUILD_TESTS=OFF
	cmake --build build-fuzz --target fuzzers
	./scripts/run-fuzzers.sh build-fuzz $(FUZZ_SECONDS)
