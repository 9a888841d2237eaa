# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ddp-widgets-installed
PORT ?= 8888
# JupyterLab refuses to run as root unless told (containers, Binder-like machines run as root)
LAB_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: demo test install browser-deps bench clean labextension labextension-test wheel

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

# The JupyterLab extension (labextension/ -> ddp_widgets/labextension, copied into the venv by pip) and the
# anywidget modules (-> ddp_widgets/static). `pip install -e` builds both once; when their sources change,
# rebuild them and reinstall the copy.
JLPM := $(abspath $(BIN))/jlpm
LABEXT_BUILT := ddp_widgets/labextension/package.json
ESM_BUILT := ddp_widgets/static/image_grid.js
LABEXT_SRC := $(wildcard labextension/src/*.ts labextension/style/*) \
	labextension/package.json labextension/tsconfig.json labextension/yarn.lock labextension/install.json
LABEXT_STAMP := $(VENV)/.ddp-widgets-labextension
# a link left by `jupyter-builder develop`: pip would write the reinstalled copy through it
LABEXT_LINK := $(VENV)/share/jupyter/labextensions/ddp-widgets

# (a missing module forces the rebuild check: a rule with no recipe for a file that is not there)
$(ESM_BUILT):

$(LABEXT_STAMP): $(STAMP) $(LABEXT_SRC) $(ESM_BUILT)
	@if [ ! -f $(LABEXT_BUILT) ] || [ ! -f $(ESM_BUILT) ] || [ -n "$$(find $(LABEXT_SRC) -newer $(LABEXT_BUILT))" ]; then \
	  echo "rebuilding the JupyterLab extension"; rm -rf ddp_widgets/labextension ddp_widgets/static; \
	  ! [ -L $(LABEXT_LINK) ] || rm $(LABEXT_LINK); \
	  $(BIN)/python -m pip install -q --no-deps -e . ; fi
	touch $(LABEXT_STAMP)

labextension: $(LABEXT_STAMP)

# Lint (eslint) and unit tests (vitest) of the TypeScript.
labextension-test: $(LABEXT_STAMP)
	test -d labextension/node_modules || (cd labextension && $(JLPM) install)
	cd labextension && $(JLPM) test

# A release wheel: always a fresh production build of the extension, never a stale dev bundle.
wheel: install
	rm -rf ddp_widgets/labextension ddp_widgets/static labextension/lib
	$(BIN)/python -m pip wheel --no-deps -w dist .
	ls -l dist/*.whl

# Real-browser tests drive Debian's chromium (never a browser that a tool downloads).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is missing: sudo apt-get install chromium (browser tests will be skipped)"; fi; }

test: install labextension-test browser-deps
	$(BIN)/python -m pytest

demo: install labextension
	$(BIN)/jupyter lab --port=$(PORT) $(LAB_ROOT) notebooks/01_quickstart.ipynb

# Ratio benchmarks (each prints its own reference, measured in the same run).
bench: install
	$(BIN)/python -m pip install -q -e ".[bench]"
	$(BIN)/python benchmarks/spectra.py
	$(BIN)/python benchmarks/profile_overhead.py
	$(BIN)/python benchmarks/widgets.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
