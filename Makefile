# The two commands of the README: `make demo` and `make check`.
# `make` alone builds build/wanctl.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
PREFIX     ?= /usr/local
DESTDIR    ?=

.PHONY: all build deps check check-long demo asan test clean install uninstall coverage fuzz bench

all: build

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

deps:
	@sh scripts/deps.sh

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

$(ASAN_BUILD)/CMakeCache.txt:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DWAN_SANITIZE=ON >/dev/null

asan: $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		WANCTL_QUICK=1 ctest --output-on-failure -j $(JOBS) -LE crash

check: deps
	$(MAKE) build
	$(MAKE) test
	$(MAKE) asan
	@echo "make check: all tests passed (release and ASan+UBSan builds)"

check-long: deps build
	cd $(BUILD) && WANCTL_LONG=1 ctest --output-on-failure -L crash
	sh tests/fuzz/run.sh $(BUILD) 60

demo: deps
	$(MAKE) build
	$(BUILD)/wanctl demo

install: build
	DESTDIR=$(DESTDIR) PREFIX=$(PREFIX) sh scripts/install.sh $(BUILD)

uninstall:
	DESTDIR=$(DESTDIR) PREFIX=$(PREFIX) sh scripts/install.sh --uninstall $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-cov build-fuzz
