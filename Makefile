# Light Node + Coordinator. `make run` and `make test` work on a fresh Debian 12 machine:
# they install what is missing (Debian packages, the Python venv for the test peers) first.
SHELL := /bin/bash
.DEFAULT_GOAL := run

SWIFT ?= swift
VENV := .venv
RUN_DIR := run
APT_PACKAGES := pkg-config libmodbus-dev libmosquitto-dev libsodium-dev libsqlite3-dev libxml2-dev zlib1g-dev socat \
                mosquitto mosquitto-clients postgresql python3-venv faketime dnsmasq-base tzdata chromium chromium-driver
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test check fuzz deps venv build release bench deb deb-check clean

## Install the Debian packages that are missing (idempotent; nothing to do when all are there).
deps:
	@command -v $(SWIFT) >/dev/null || { echo "make: swift is not on PATH (Swift 6.1 or newer is needed)" >&2; exit 2; }
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "Installing Debian packages:" $$missing; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing </dev/null; \
	fi

## The venv holding the Python peers and checkers the tests use (rebuilt when requirements change).
venv: $(VENV)/.installed
$(VENV)/.installed: Tests/python/requirements.txt | deps
	@test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r Tests/python/requirements.txt
	@touch $@

build: deps
	$(SWIFT) build

## Release builds of the programs link the Swift runtime in (what the Debian packages ship; one
## build serves make run and make deb). The benchmarks link it dynamically: their test support
## uses Foundation's URLSession, whose static form needs libcurl's.
RELEASE := -c release --static-swift-stdlib
build-release = @for product in $(1); do $(SWIFT) build $(RELEASE) --product $$product || exit 1; done
PROGRAMS := lightnode coordinator meter-sim
BENCHMARKS := ledger-bench modbus-bench mqtt-bench ingest-bench uftp-bench market-bench settlement-bench
release: deps
	$(call build-release,$(PROGRAMS))

## All tests: unit and integration (real processes, the Python verifier, kill -9 loops), then
## a short libFuzzer run of every parser. CI shows only the tail of the output, so failures are
## repeated at the end.
test: deps venv
	$(SWIFT) build --build-tests
	scripts/check-edge.py
	@mkdir -p .build; set -o pipefail; $(SWIFT) test 2>&1 | tee .build/test.log || { \
		echo "---- failures (repeated from above) ----"; \
		grep -E "✘|recorded an issue|error:|Fatal error|Expectation failed" .build/test.log | head -60; exit 1; }
	scripts/fuzz.sh

## The inner loop: unit tests only (no real processes, no Python peers), the edge's links, and
## the layout's figures (docs/architecture.md).
check: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip IntegrationTests
	scripts/check-edge.py
	scripts/size-report.py

## libFuzzer over the parsers of external input: FUZZ_SECONDS (5) a target, FUZZ_ASAN=1 adds
## AddressSanitizer (docs/operations.md, "Fuzzing").
fuzz: deps
	scripts/fuzz.sh

## The main job on embedded defaults: one compressed market day on loopback (scripts/demo_day.py):
## broker, coordinator, three simulated sites and their Light Nodes on a clock 60x fast; the services
## keep running until Ctrl-C (ARGS=--once, or CI=true, exits after the summary and its checks).
run: deps
	$(call build-release,$(PROGRAMS))
	python3 scripts/demo_day.py $(ARGS)

## Benchmarks beside their baselines (numbers for docs/benchmarks.md); footprint takes 10 min,
## the MQTT latency run 7, the coordinator's stream run (100,000 nodes) about 10.
bench: release
	@for product in $(BENCHMARKS); do $(SWIFT) build -c release --product $$product || exit 1; done
	.build/release/ledger-bench
	.build/release/modbus-bench
	.build/release/mqtt-bench drain
	.build/release/mqtt-bench latency
	Benchmarks/footprint.sh
	.build/release/ingest-bench storage
	.build/release/ingest-bench store 25000 40
	.build/release/uftp-bench
	.build/release/uftp-bench http
	.build/release/uftp-bench deliver 2000 1 0
	.build/release/uftp-bench deliver 400 1 10
	.build/release/ingest-bench stream
	.build/release/market-bench
	.build/release/settlement-bench both
	.build/release/settlement-bench console

## Debian packages of the agent and the coordinator into dist/ (docs/operations.md).
deb: deps
	$(call build-release,lightnode coordinator)
	packaging/build-deb.sh

## Installs the packages into a throw-away root and checks them (CI).
deb-check: deb
	packaging/check-deb.sh

clean:
	rm -rf .build .build-static $(RUN_DIR) dist
