# Developer and CI entry points. `make setup` is idempotent: each stage leaves a
# stamp under .make/ and reruns only when its inputs change.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test

PYTHON ?= python3
VENV := .venv
VENV_PYTHON := $(VENV)/bin/python
STAMPS := .make

# Debian packages for R and the R packages they provide (same order).
R_DEBS := r-base-core r-cran-pkgbuild r-cran-r6 r-cran-jsonlite r-cran-cli r-cran-processx r-cran-magrittr \
	r-cran-testthat r-cran-withr r-cran-reticulate r-cran-roxygen2 r-cran-knitr r-cran-rmarkdown \
	r-cran-pkgdown r-cran-ggplot2 r-cran-rstudioapi
R_PKGS := pkgbuild R6 jsonlite cli processx magrittr testthat withr reticulate roxygen2 knitr rmarkdown \
	pkgdown ggplot2 rstudioapi
# The browser tools/check_site.py drives (make site, and its test in make test).
BROWSER_DEB := chromium
# Graphviz, whose `dot` the graph tests check flow_dot()'s and `show --dot`'s text with.
GRAPHVIZ_DEB := graphviz
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

# What the installed R package is built from (inst/ carries the Python engine).
R_SOURCES := DESCRIPTION $(wildcard R/*.R) $(wildcard src/*.c) \
	$(shell find inst -type f -not -path '*/__pycache__/*' -not -path '*.egg-info/*' -not -name '*.pyc' 2>/dev/null)

# The tests run on the project's venv, which has their extra Python packages
# (numpy, pandas, moto); the demo runs as a user would, on the package's own.
export METAFLOW_PYTHON := $(CURDIR)/$(VENV_PYTHON)

.PHONY: setup test check site demo bench bench-setup docs engine-options clean

setup: $(STAMPS)/r-installed $(STAMPS)/venv $(STAMPS)/venv-netflix $(STAMPS)/browser $(STAMPS)/graphviz
	@# The package's own Python environment (tools::R_user_dir("metaflow", "data")),
	@# which flows use outside make: made if missing, else only checked (~0.3 s).
	env -u METAFLOW_PYTHON Rscript -e 'cat("Python for flows:", metaflow::metaflow_python(), "\n")'

$(STAMPS):
	mkdir -p $@

$(STAMPS)/debs: | $(STAMPS)
	if command -v Rscript >/dev/null && Rscript -e 'pkgs <- strsplit("$(R_PKGS)", " ")[[1]]; ok <- vapply(pkgs, requireNamespace, logical(1), quietly = TRUE); quit(status = !all(ok))'; then \
		echo "R and its packages are installed"; \
	else \
		$(SUDO) apt-get update; \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends $(R_DEBS); \
	fi
	touch $@

$(STAMPS)/browser: | $(STAMPS)
	if command -v $(BROWSER_DEB) >/dev/null; then \
		echo "$(BROWSER_DEB) is installed"; \
	else \
		$(SUDO) apt-get update; \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends $(BROWSER_DEB); \
	fi
	touch $@

$(STAMPS)/graphviz: | $(STAMPS)
	if command -v dot >/dev/null; then \
		echo "$(GRAPHVIZ_DEB) is installed"; \
	else \
		$(SUDO) apt-get update; \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends $(GRAPHVIZ_DEB); \
	fi
	touch $@

$(STAMPS)/venv: requirements-dev.txt inst/python/requirements.txt inst/python/pyproject.toml | $(STAMPS)
	test -x $(VENV_PYTHON) || $(PYTHON) -m venv $(VENV)
	$(VENV_PYTHON) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(VENV_PYTHON) -m pip install --quiet --disable-pip-version-check -e inst/python --config-settings editable_mode=compat
	touch $@

# Netflix's metaflow from PyPI, pinned, in a venv of its own: pytests/test_netflix_compat.py runs
# it beside our engine in one directory. Apart from .venv so that neither engine shadows the other.
NETFLIX_VENV := .venv-netflix
NETFLIX_METAFLOW := metaflow==2.19.39
$(STAMPS)/venv-netflix: | $(STAMPS)
	test -x $(NETFLIX_VENV)/bin/python || $(PYTHON) -m venv $(NETFLIX_VENV)
	$(NETFLIX_VENV)/bin/python -m pip install --quiet --disable-pip-version-check "$(NETFLIX_METAFLOW)"
	echo "$(NETFLIX_METAFLOW)" > $@

$(STAMPS)/roxygen: $(STAMPS)/debs DESCRIPTION $(wildcard R/*.R)
	Rscript -e 'roxygen2::roxygenise()'
	touch $@

$(STAMPS)/r-installed: $(STAMPS)/roxygen $(R_SOURCES) .Rinstignore
	R CMD INSTALL --no-multiarch .
	touch $@

# The two suites run side by side (each mostly waits on the subprocesses it
# starts, so on two cores this nearly halves the time); pytest's output is
# printed when both are done.
test: setup
	status=0; \
	$(VENV_PYTHON) -m pytest -q pytests tools > $(STAMPS)/pytest.log 2>&1 & pytest=$$!; \
	Rscript tools/run-testthat.R || status=1; \
	wait $$pytest || status=1; \
	cat $(STAMPS)/pytest.log; \
	exit $$status

# The package as an R user installs it: R CMD build, install.packages() of the
# tarball, R CMD check --no-manual (no ERROR or WARNING allowed). CHECK_ARGS
# adds check options: CI passes --no-tests, since `make test` runs the suites.
CHECK_ARGS ?=
check: setup
	tools/check-package.sh $(STAMPS)/check $(CHECK_ARGS)

# The pkgdown site in docs/, built offline, then every page loaded in headless
# Chromium: no console errors, failed loads, requests off the machine or broken links.
site: setup
	Rscript tools/build-site.R
	$(VENV_PYTHON) tools/check_site.py docs

demo: setup
	workdir=$$(mktemp -d); \
	trap 'rm -rf "$$workdir"' EXIT; \
	cd "$$workdir"; \
	unset METAFLOW_PYTHON; \
	export METAFLOW_DATASTORE_SYSROOT_LOCAL="$$workdir"; \
	Rscript "$(CURDIR)/inst/examples/hello_flow.R" run; \
	Rscript -e 'library(metaflow); cat("Read back from the datastore:", new_run("HelloFlow", "latest_run")$$artifact("total"), "\n")'

# Netflix's metaflow from PyPI in .bench/venv-netflix, the reference the benchmarks compare to.
bench-setup:
	PYTHON=$(PYTHON) bench/ref_env.sh

# S3 against moto on loopback; `make bench S3_BENCH_ARGS=--quick` for a small run.
S3_BENCH_ARGS ?=
bench: setup bench-setup
	$(VENV_PYTHON) bench/bench_local_run.py
	$(VENV_PYTHON) bench/foreach_bench.py
	$(VENV_PYTHON) bench/r_bench.py
	$(VENV_PYTHON) bench/artifact_bench.py
	$(VENV_PYTHON) bench/s3_bench.py $(S3_BENCH_ARGS)
	$(VENV_PYTHON) bench/compression.py --s3 --repeats 3

docs: $(STAMPS)/roxygen

# The engine's command-line table that R reads (R/run_args.R), from its click
# definitions; pytests/test_cli_table.py fails when it is out of date.
engine-options: $(STAMPS)/venv
	$(VENV_PYTHON) -m metaflow_core.cli_table inst/engine_options.json

clean:
	rm -rf $(STAMPS) $(VENV) $(NETFLIX_VENV) .metaflow .pytest_cache *.Rcheck metaflow_*.tar.gz docs
	find . -path ./.git -prune -o \( -name __pycache__ -o -name '*.egg-info' \) -type d -prune -exec rm -rf {} +
