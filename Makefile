.PHONY: install run test check bench

install:  ## create .venv and install everything
	scripts/install

run:      ## run the service (embedded Redis and the Outreach sandbox when nothing else is configured)
	scripts/run

test:     ## the whole test suite
	scripts/test

check:    ## ruff + mypy
	scripts/check

bench:    ## the benchmark suite (see docs/benchmarks.md)
	scripts/install && .venv/bin/python -m bench
