# The two commands of the README (CONTRACT §1), and a few helpers.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help setup build run test test-tools bench-tools bench bench-quick chaos launch-day

help:
	@echo "make run    build in release mode and start the whole stack in the foreground"
	@echo "make test   build and run the whole test suite, end-to-end tests included"
	@echo "make bench  build in release mode, run the baselines and scenarios, write docs/benchmarks/report.md"
	@echo "make chaos  build in release mode and run the long chaos run (docs/reliability.md)"
	@echo "make launch-day  draw docs/observability/launch-day.png from the stack's own metrics under a crowd"

# Installs missing system packages (libzmq3-dev, libsqlite3-dev) when run as root.
setup:
	@deploy/local/setup.sh

build: setup
	swift build -c release

run: build
	deploy/local/run-stack.sh .build/release

# What the tests need beyond the build: python3-venv, Debian's chromium and chromium-driver (with a
# Hangul font for the screenshots) for the browser tests, wrk for the load generator's smoke run,
# and Python tools in a project-local .venv.
test-tools: setup
	@deploy/local/setup.sh python3-venv chromium chromium-driver fonts-nanum wrk
	@deploy/local/test-tools.sh

# The suites that time deadlines (RPC timeouts, event followers, the gateway's token view) run
# first and alone: at the crowded start of the whole suite, blocking database set-up in other
# tests has been seen to starve two cores for seconds. The short chaos run goes last, alone too.
DEADLINE_SUITES = ^(MessagingTests|ServiceKitTests\.OutboxFollowerTests|GatewayTests\.AdmissionViewTests)
test: setup test-tools
	swift build --build-tests
	swift test --skip-build --disable-xctest --filter '$(DEADLINE_SUITES)'
	swift test --skip-build --disable-xctest --skip '$(DEADLINE_SUITES)'
	.build/debug/chaos --quick --report .build/chaos-quick.json

# What the benchmarks need beyond the build: wrk, the C HTTP client that reads the hello world
# and the read path beside the load generator's own client (docs/benchmarks.md).
bench-tools: setup
	@deploy/local/setup.sh wrk

# The benchmarks (docs/benchmarks.md): the baselines and every scenario in one run, release build.
# BENCH_ARGS passes options to `loadgen bench` (see `.build/release/loadgen bench --help`).
bench: build bench-tools
	.build/release/loadgen bench --out docs/benchmarks $(BENCH_ARGS)

# The launch-day picture of docs/observability.md: the real stack under a crowd, drawn from its
# own metrics (matplotlib, into the project's .venv).
launch-day: build test-tools
	@.venv/bin/pip install --quiet --disable-pip-version-check "matplotlib==3.9.2"
	.venv/bin/python Benchmarks/launch_day.py --out docs/observability/launch-day.png

# A short run that checks the benchmarks work, without overwriting the committed report.
bench-quick: build bench-tools
	.build/release/loadgen bench --quick --out .build/bench-quick $(BENCH_ARGS)

# The long chaos run (docs/reliability.md): minutes of booking while every backend is killed at
# least five times and frozen, and the gateway killed too; then every invariant checked.
# CHAOS_ARGS passes options to `chaos` (see `.build/release/chaos --help`).
chaos: build
	.build/release/chaos --report .build/chaos-long.json $(CHAOS_ARGS)
