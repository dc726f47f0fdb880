# The commands a developer, an operator or CI runs. `make demo` and `make test` set everything up.
PYTHON := .venv/bin/python
DURATION_S ?= 20
# Reference data of the built-in plugins (threat library, vehicle references): versioned artefacts,
# built from the simulator by an explicit command, loaded by the plugins at start-up.
export SMARTCUSTOMS_ARTEFACTS_DIR ?= $(CURDIR)/.smartcustoms/artefacts
ARTEFACTS := $(SMARTCUSTOMS_ARTEFACTS_DIR)/.built
ARTEFACT_SOURCES := $(shell find plugins -path '*/tools/*' -name '*.py' -o -path '*/tools/*' -name '*.json') \
	hardware/sim/xray.py hardware/sim/vehicle.py hardware/sim/records.py plugins/cargo_risk/features.py \
	plugins/vehicle_risk/features.py plugins/vehicle_risk/history.py \
	hardware/sim/liquor.py hardware/sim/_liquor_label.py plugins/liquor/features.py plugins/liquor/reading.py

.PHONY: demo up test test-unit check bench clean artefacts

.venv/.installed: setup.cfg setup.py pyproject.toml scripts/setup tests/vendor_node/package-lock.json
	scripts/setup

artefacts: $(ARTEFACTS)  ## build the plugins' reference data from the simulator

$(ARTEFACTS): .venv/.installed $(ARTEFACT_SOURCES)
	.venv/bin/smartcustoms library build xray --source sim
	.venv/bin/smartcustoms library build vehicle --source sim
	.venv/bin/smartcustoms library build cargo_risk --source sim
	.venv/bin/smartcustoms library build vehicle_risk --source sim
	.venv/bin/smartcustoms library build liquor --source sim
	touch $@

demo: .venv/.installed $(ARTEFACTS)  ## the runtime on embedded services plus simulated devices, then a report
	.venv/bin/smartcustoms demo --duration-s $(DURATION_S)

up: .venv/.installed $(ARTEFACTS)  ## the runtime alone, until Ctrl-C
	.venv/bin/smartcustoms up

test: .venv/.installed $(ARTEFACTS)  ## every test, unit and integration (starts real broker, Redis, Ray, gateway)
	.venv/bin/pytest -p no:cacheprovider

test-unit: .venv/.installed  ## only the tests that start no service
	.venv/bin/pytest -p no:cacheprovider -m "not integration"

check: .venv/.installed  ## lint, format and type checks before a commit
	.venv/bin/ruff check core plugins runtime hardware dashboards tests benchmarks
	.venv/bin/ruff format --check core plugins runtime hardware dashboards tests benchmarks
	scripts/typecheck

BENCH_RESULTS := bench-results
BENCH_THRESHOLD_PCT ?= 25
BENCH_COMPARE_FLAGS ?= --ratios-decide

bench: .venv/.installed $(ARTEFACTS)  ## benchmarks: JSON and PNG in bench-results/<timestamp>.*, compared with the previous run
	mkdir -p $(BENCH_RESULTS)
	@previous=$$(ls -1 $(BENCH_RESULTS)/[0-9]*.json 2>/dev/null | sort | tail -n 1); \
	run=$(BENCH_RESULTS)/$$(date +%Y%m%d-%H%M%S); \
	.venv/bin/pytest benchmarks -p no:cacheprovider --benchmark-json=$$run.json || exit $$?; \
	PYTHONPATH=benchmarks $(PYTHON) -m benchkit.plot $$run.json $$run.png || exit $$?; \
	if [ -n "$$previous" ]; then \
		PYTHONPATH=benchmarks $(PYTHON) -m benchkit.compare $$previous $$run.json \
			--threshold $(BENCH_THRESHOLD_PCT) $(BENCH_COMPARE_FLAGS); \
	else \
		echo "no earlier run in $(BENCH_RESULTS)/: nothing to compare with"; \
	fi

clean:
	rm -rf .smartcustoms build dist *.egg-info bench-results
