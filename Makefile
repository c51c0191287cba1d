# picoring developer commands. `make help` lists them.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
export VIRTUAL_ENV := $(CURDIR)/$(VENV)
export CARGO_TERM_COLOR := never

.PHONY: help
help: ## list the commands
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-12s %s\n", $$1, $$2}'

$(VENV)/.stamp: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

.PHONY: venv
venv: $(VENV)/.stamp ## create .venv with the build and test tools

.PHONY: build
build: venv ## build the extension (release) into .venv
	rm -f python/picoring/*.so
	$(VENV)/bin/maturin develop --release --quiet

.PHONY: fmt
fmt: ## format the Rust code
	cargo fmt --all

.PHONY: lint
lint: build lint-workflows ## rustfmt check, clippy -D warnings, stubs checked against the extension, actionlint on the workflows
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	$(PY) -m mypy.stubtest picoring --mypy-config-file pyproject.toml --allowlist stubtest-allowlist.txt
	$(PY) -m mypy --strict tests/typing_check.py python/picoring/asyncio.py

MSRV := $(shell sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)

.PHONY: check-msrv
check-msrv: ## cargo check of the crates with the rust-version of Cargo.toml (installs that toolchain)
	@if rustup run $(MSRV) rustc --version >/dev/null 2>&1 || rustup toolchain install $(MSRV) --profile minimal >/dev/null 2>&1; then \
		echo "cargo +$(MSRV) check --workspace --all-targets"; \
		CARGO_TARGET_DIR=$(CURDIR)/target/msrv cargo +$(MSRV) check --workspace --all-targets --quiet; \
	else \
		echo "check-msrv: SKIPPED, the Rust $(MSRV) toolchain could not be installed here"; \
	fi

.PHONY: test-rust
test-rust: ## cargo test (unit, property and doc tests), then the core's suite again on the POSIX backend (shm_open, as on macOS and FreeBSD)
	cargo test --workspace
	@echo "== the core's tests on the POSIX backend (cargo feature posix-shm)"
	cargo test -p picoring --features posix-shm

.PHONY: loom
loom: ## the spsc and mpsc channels' memory orderings explored by loom (--cfg loom; about a minute, most of it the build)
	RUSTFLAGS="--cfg loom" cargo test -p picoring --lib --release --target-dir target/loom -- loom_tests

.PHONY: test-windows
test-windows: ## the core's tests cross-built for Windows (mingw-w64) and run under wine; installs both (not part of `make test`)
	bash tools/test_windows.sh

.PHONY: test-python
test-python: build ## pytest and the unittest seed suite
	$(PY) -m pytest
	$(PY) python_tests/test_suite.py

PLATFORMS := x86_64-apple-darwin aarch64-apple-darwin x86_64-unknown-freebsd x86_64-pc-windows-msvc

.PHONY: check-platforms
check-platforms: ## cargo clippy of the core (and its tests) and the bindings, warnings denied, for macOS, FreeBSD and Windows (a target rustup cannot add is skipped, saying so)
	@for t in $(PLATFORMS); do \
		if rustup target list --installed 2>/dev/null | grep -qx $$t || rustup target add $$t >/dev/null 2>&1; then \
			echo "== cargo clippy -p picoring --target $$t"; \
			cargo clippy -q -p picoring --all-targets --target $$t --target-dir target/check -- -D warnings || exit 1; \
			echo "== cargo clippy -p picoring-py --target $$t (abi3, no interpreter: PYO3_CROSS_PYTHON_VERSION=3.11)"; \
			PYO3_CROSS_PYTHON_VERSION=3.11 \
				cargo clippy -q -p picoring-py --target $$t --target-dir target/check -- -D warnings || exit 1; \
		else \
			echo "SKIPPED check-platforms $$t: rustup could not add this target on this machine"; \
		fi; \
	done

$(VENV)/.wheel-stamp: requirements-wheel.txt $(VENV)/.stamp
	$(PY) -m pip install --quiet -r requirements-wheel.txt
	touch $@

.PHONY: wheel
wheel: $(VENV)/.stamp $(VENV)/.wheel-stamp ## the sdist and the abi3 manylinux2014 wheel (zig linker) in target/wheels, checked with auditwheel
	rm -rf target/wheels/picoring-* target/wheels/rejected
	$(VENV)/bin/maturin sdist -o target/wheels
	@# The wheel from the tree, not from the sdist: maturin unpacks that in a
	@# temporary folder whose files keep their old times, and cargo then
	@# takes a stale build in target/zig for up to date.
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" CARGO_TARGET_DIR="$(CURDIR)/target/zig" \
		$(VENV)/bin/maturin build --release --zig --compatibility manylinux2014 -o target/wheels
	$(PY) tools/check_wheel.py target/wheels/picoring-*-abi3-*.whl manylinux_2_17 || { \
		mkdir -p target/wheels/rejected && mv target/wheels/picoring-*.whl target/wheels/rejected/; \
		echo "make wheel: the wheel failed its check; moved to target/wheels/rejected/"; exit 1; }

.PHONY: test-matrix
test-matrix: ## the wheel of `make wheel` in fresh virtualenvs of Python 3.11, 3.12, 3.13, tested from outside the tree; the sdist built and smoke-tested in one more
	bash tools/test_matrix.sh

$(VENV)/.workflows-stamp: requirements-workflows.txt $(VENV)/.stamp
	$(PY) -m pip install --quiet -r requirements-workflows.txt
	touch $@

.PHONY: lint-workflows
lint-workflows: $(VENV)/.workflows-stamp ## actionlint on .github/workflows (the release workflow; written and linted, not run here)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" actionlint -no-color -verbose

.PHONY: test
test: lint check-msrv check-platforms test-rust loom test-python ## everything: fmt, clippy, stubtest, MSRV and platform checks, cargo test, loom, pytest, test_suite.py

$(VENV)/.bench-stamp: requirements-bench.txt $(VENV)/.stamp
	$(PY) -m pip install --quiet -r requirements-bench.txt
	touch $@

.PHONY: bench-rust
bench-rust: ## criterion: the core beside VecDeque, ringbuf and rtrb; the spsc channel beside rtrb, ringbuf, crossbeam and std::sync::mpsc
	mkdir -p target
	rm -rf target/criterion
	set -o pipefail; cd benchmarks/rust && CRITERION_HOME=$(CURDIR)/target/criterion \
		cargo bench --target-dir $(CURDIR)/target/bench --bench peers --bench spsc 2>&1 \
		| tee $(CURDIR)/target/bench-rust.log | grep -E '^(push_pop|view|spsc_single|spsc_batch64)/|time:|thrpt:|panicked'


.PHONY: bench-python
bench-python: build $(VENV)/.bench-stamp ## Python workloads beside picoring 0.6.0 and the Python peers, into benchmarks/results/
	$(PY) benchmarks/run.py

.PHONY: bench-instructions
bench-instructions: build ## instructions per call under callgrind (repeatable on a noisy machine), into benchmarks/results/
	$(PY) benchmarks/instructions.py

.PHONY: bench
bench: build $(VENV)/.bench-stamp bench-rust bench-python ## everything: Rust and Python comparisons, table and plot into benchmarks/results/ (git-ignored), seed scripts
	$(PY) python_tests/comparison_bench.py
	$(PY) python_tests/benchmark.py

# The results bench-readme copies; BENCH_RESULTS=benchmarks/snapshot/latest.json
# re-renders the committed snapshot (after a change to the table or plot code).
BENCH_RESULTS ?= benchmarks/results/latest.json

.PHONY: bench-readme
bench-readme: $(VENV)/.bench-stamp ## README results table and plot from the saved results (runs no benchmark)
	$(PY) benchmarks/report.py --results $(BENCH_RESULTS)

# --- reliability: fuzzing, Miri, valgrind (see README, "Reliability") ------

NIGHTLY ?= nightly
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := ring queue stream list

.PHONY: nightly
nightly: # (helper) a nightly toolchain with Miri, and cargo-fuzz
	rustup run $(NIGHTLY) rustc --version >/dev/null 2>&1 || rustup toolchain install $(NIGHTLY) --profile minimal
	rustup component add --toolchain $(NIGHTLY) miri rust-src
	cargo fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked

.PHONY: fuzz
fuzz: nightly ## each fuzz target for FUZZ_SECONDS (default 60) against its model; crashes land in fuzz/artifacts
	mkdir -p target
	set -eo pipefail; cd fuzz; for t in $(FUZZ_TARGETS); do \
		echo "== fuzz $$t for $(FUZZ_SECONDS) s (log: target/fuzz-$$t.log)"; \
		CARGO_TARGET_DIR=$(CURDIR)/target/fuzz cargo +$(NIGHTLY) fuzz run -O $$t -- \
			-max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=4096 -print_final_stats=1 2>&1 \
			| tee $(CURDIR)/target/fuzz-$$t.log \
			| grep -E '^Done|stat::(number_of_executed_units|peak_rss_mb|new_units_added)|panicked|ERROR|SUMMARY|artifact'; \
	done

.PHONY: miri
miri: nightly ## the core's unit, model and doc tests under Miri (heap memory stands in for mappings; about 16 minutes)
	MIRIFLAGS="-Zmiri-disable-isolation" cargo +$(NIGHTLY) miri test -p picoring

.PHONY: valgrind
valgrind: build ## pytest under valgrind memcheck against the release extension (slow: about 20 minutes)
	bash tests/valgrind.sh

MUTANT_FILES := ring.rs pins.rs queue.rs arena.rs fork.rs

.PHONY: mutants
mutants: ## cargo mutants on the core's guarantee code; results in target/mutants (about 40 minutes)
	cargo mutants --version >/dev/null 2>&1 || cargo install cargo-mutants --locked
	cargo mutants -p picoring $(foreach f,$(MUTANT_FILES),-f crates/picoring/src/$(f)) \
		$$(cargo nextest --version >/dev/null 2>&1 && echo --test-tool nextest) \
		--exclude-re 'tests::' --timeout 180 -j 2 --output target/mutants

.PHONY: clean
clean: ## remove build products and the virtualenv
	cargo clean
	rm -rf $(VENV) python/picoring/*.so .pytest_cache .hypothesis
