# The commands a developer, an operator or CI runs. `make demo` and `make test` set everything up.
PYTHON := .venv/bin/python
DURATION_S ?= 20

.PHONY: demo up test test-unit check bench clean

.venv/.installed: setup.cfg setup.py pyproject.toml scripts/setup tests/vendor_node/package-lock.json
	scripts/setup

demo: .venv/.installed  ## the runtime on embedded services plus simulated devices, then a report
	.venv/bin/smartcustoms demo --duration-s $(DURATION_S)

up: .venv/.installed  ## the runtime alone, until Ctrl-C
	.venv/bin/smartcustoms up

test: .venv/.installed  ## every test, unit and integration (starts real broker, Redis, Ray, gateway)
	.venv/bin/pytest -p no:cacheprovider

test-unit: .venv/.installed  ## only the tests that start no service
	.venv/bin/pytest -p no:cacheprovider -m "not integration"

check: .venv/.installed  ## lint, format and type checks before a commit
	.venv/bin/ruff check core plugins runtime hardware dashboards tests benchmarks
	.venv/bin/ruff format --check core plugins runtime hardware dashboards tests benchmarks
	scripts/typecheck

bench: .venv/.installed  ## benchmark suite; JSON saved under bench-results/
	mkdir -p bench-results
	.venv/bin/pytest benchmarks -p no:cacheprovider --benchmark-json=bench-results/latest.json

clean:
	rm -rf .smartcustoms build dist *.egg-info bench-results
