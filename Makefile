# The README's two commands: `make test` and `make bench`. Each sets up .venv itself.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q

.PHONY: test test-fast test-versions lint docs bench bench-micro deps wheel venv clean

$(VENV)/.ready:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install "setuptools>=77" "Cython>=3.0" wheel build
	touch $@

venv: $(VENV)/.ready

# Debian packages the tests use (protoc, clang/lld, rsyslog, systemd), the minimal
# OpenTelemetry Collector the OTLP tests run, built once into a cache outside the clone
# (~/.cache/loglayer), and the Go go-plugin examples (.cache/go); all idempotent, and
# quick when nothing changed. Go (1.26+) comes with the machine.
deps:
	tools/install_deps.sh
	tools/build_otelcol.sh
	examples/grpc/build.sh

# Only the collector (tools/otelcol): builds it unless the cached binary is up to date.
.PHONY: otelcol
otelcol:
	tools/build_otelcol.sh

# Build the wheel with the compiled core, prove it ships the .so and no .pyx/.c, install it.
# LOGLAYER_REQUIRE_EXTENSIONS: a failed compile stops here instead of making a pure wheel.
wheel: venv
	rm -rf dist build
	LOGLAYER_REQUIRE_EXTENSIONS=1 $(PY) -m build --wheel --no-isolation --outdir dist . \
		> build.log 2>&1 || (cat build.log; exit 1)
	grep "loglayer: built" build.log
	$(PY) tools/check_wheel.py dist/*.whl
	$(PIP) install --force-reinstall --no-deps dist/*.whl
	$(PIP) install "$$(ls dist/*.whl)[dev,docs]"

# ruff (pycodestyle, pyflakes, isort, bugbear, pyupgrade, simplify), mypy on src/, and the
# workflows and Dependabot config against the schemas check-jsonschema vendors (offline).
lint: wheel
	$(PY) -m ruff check src tests bench tools setup.py
	$(PY) -m mypy
	$(PY) -m check_jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(PY) -m check_jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml

# The documentation site (mkdocs.yml, pages in docs/): warnings are errors, the API
# reference is read from src/, and nothing is downloaded. Output in site/ (ignored by git).
docs: wheel
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --quiet

# The whole suite, once per core: compiled, then the pure-Python twin.
test: deps wheel lint docs
	@echo "== compiled core =="
	$(PY) -m pytest -q -p no:cacheprovider
	@echo "== pure-Python core (LOGLAYER_NO_EXTENSIONS=1) =="
	LOGLAYER_NO_EXTENSIONS=1 $(PY) -m pytest -q -p no:cacheprovider

# The whole suite, both cores, on each supported CPython (pyenv's interpreters, or
# python3.X on PATH); `make test` keeps to the default one. Each version gets a venv
# cached in .versions/ and a copy of the working tree there, in which its wheel is built
# and checked, so .venv and the clone's build/ stay as they are. Every run goes through;
# the target fails if any failed. VERSIONS="3.12 3.13" picks some, PYTEST_ARGS='-m "not
# slow"' the fast part, LOGLAYER_VERSIONS_REF=HEAD tests a commit instead.
VERSIONS ?= 3.10 3.11 3.12 3.13
test-versions: deps
	tools/test_versions.sh $(VERSIONS)

# The inner loop: both cores in one run where a test takes the `core` fixture, without
# the tests that start processes, plugin hosts or wasm engines (marked slow).
test-fast: wheel
	$(PY) -m pytest -q -p no:cacheprovider -m "not slow"

bench: wheel
	$(PIP) install "$$(ls dist/*.whl)[bench]"
	$(PY) -m loglayer.bench

# The core's micro benchmark (pytest-benchmark), with its same-run reference points.
bench-micro: wheel
	$(PY) -m pytest bench -p no:cacheprovider --benchmark-columns=min,median,mean,stddev,rounds \
		--benchmark-sort=name --benchmark-min-rounds=20

clean:
	rm -rf $(VENV) dist build build.log site cext/*.c cext/*.html src/*.egg-info src/loglayer/*.so \
		src/loglayer/isolation/*.so src/loglayer/utils/*.so \
		src/loglayer/plugins/*.so .versions
