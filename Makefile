# The two commands of the README: `make demo` and `make test`. Both build the
# project's own virtual environment in .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# System packages the tests use (slapd: the LDAP tests run a real OpenLDAP server;
# blender and ffmpeg: the bundled templates' tests and the pipeline example run them;
# postgresql: the store tests start a throwaway cluster with its initdb and pg_ctl;
# chromium: the web console's browser tests drive it through Playwright).
# Add a package here and `make test` installs it when it is missing (as root, with
# apt-get); without root a test that needs a missing one is skipped and says why.
DEBIAN_PACKAGES := slapd ldap-utils blender ffmpeg postgresql chromium

.PHONY: demo test fuzz bench bench-full lint format clean debian-packages blender-addon

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Corral needs Python 3.11 or newer ($(PYTHON) is older)"; exit 1; }
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && apt-get install -y -qq python3-venv; \
		else echo "the Python venv module is missing: install python3-venv"; exit 1; fi; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/corral demo

# Installs the missing DEBIAN_PACKAGES (root with apt-get only; otherwise says what is missing).
debian-packages:
	@missing=""; \
	for package in $(DEBIAN_PACKAGES); do \
		dpkg-query -W -f='$${Status}' "$$package" 2>/dev/null | grep -q "ok installed" || \
			missing="$$missing $$package"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	else \
		echo "missing Debian packages:$$missing (not root or no apt-get: the tests that need them skip)"; \
	fi

# Two workers (the machine's cores); a file's tests stay together on one worker.
test: $(STAMP) debian-packages
	$(BIN)/python -m pytest -p no:cacheprovider -n 2 --dist loadfile

# The fuzzers of tests/integration/test_fuzz_*.py with many examples each (`make test`
# runs them with a few); CORRAL_FUZZ_EXAMPLES=N sets how many per test.
fuzz: $(STAMP)
	CORRAL_FUZZ=long $(BIN)/python -m pytest -p no:cacheprovider -m fuzz --timeout=3600 -rxX \
		tests/integration/test_fuzz_render_port.py tests/integration/test_fuzz_rest.py \
		tests/integration/test_fuzz_openapi.py

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,bench]'
	$(BIN)/python -m benchmarks

bench-full: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,bench]'
	$(BIN)/python -m benchmarks --full

# The Blender add-on with the client library inside, to install in Blender (docs/submitting.md).
blender-addon: dist/corral_submit.zip

dist/corral_submit.zip: addons/blender/corral_submit.py corral_client/*.py
	python3 addons/blender/make_zip.py $@

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) demo-output .pytest_cache
