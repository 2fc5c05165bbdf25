# Ferry — every target creates the virtual environment on first use, so each is one command on a
# fresh machine.

VENV    ?= .venv
PYTHON  ?= python3
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed-stamp
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: venv test demo lint bench clean manifests image

ROUTER ?= nginx
STRATEGY ?= canary
SCENARIO ?= good-release
# test files run in parallel, each file in one process (--dist loadfile): the end-to-end tests
# mostly wait on their runtime's events, so two fit on two cores
JOBS ?= 2

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,dev]'
	@touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	@command -v kubectl >/dev/null || { echo "make test: kubectl is required (the tests drive the simulator with it); install kubectl 1.32 and retry" >&2; exit 1; }
	@command -v nginx >/dev/null || { echo "make test: nginx is required (the local data plane's ingress); install it (Debian: apt-get install nginx-light) and retry" >&2; exit 1; }
	$(PY) -m pytest -n $(JOBS) --dist loadfile

demo: $(STAMP)
	@if [ "$(ROUTER)" = nginx ]; then for b in nginx prometheus; do command -v $$b >/dev/null || { echo "make demo: $$b is required (the local data plane); install it (Debian: apt-get install nginx-light prometheus) or try make demo ROUTER=none" >&2; exit 1; }; done; fi
	$(VENV)/bin/ferry demo --router $(ROUTER) --strategy $(STRATEGY) --scenario $(SCENARIO)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy shared local functions cli dashboard webhooks image
	$(VENV)/bin/lint-imports

# the OCI image (image/build.py): needs root, mmdebstrap and umoci; IMAGE=registry/name pins
# that name (newName) beside the digest in knative/kustomization.yaml
IMAGE ?=
image: $(STAMP)
	$(PY) image/build.py build $(if $(IMAGE),--name $(IMAGE))

manifests: $(STAMP)
	$(VENV)/bin/ferry manifests

bench: $(STAMP)
	$(PY) bench/sim_throughput.py --out bench/results/sim_throughput.json
	$(PY) bench/abort_reaction.py --out bench/results/abort_reaction.json
	$(PY) bench/sender_auth.py --out bench/results/sender_auth.json
	$(PY) bench/dashboard_list.py --out bench/results/dashboard_list.json
	$(PY) bench/notify_delay.py --out bench/results/notify_delay.json
	$(PY) bench/bluegreen_switch.py --out bench/results/bluegreen_switch.json
	$(PY) bench/experiment_lifecycle.py --out bench/results/experiment_lifecycle.json
	$(PY) bench/blast_radius.py --out bench/results/blast_radius.json
	$(PY) bench/load_generation.py --out bench/results/load_generation.json
	$(PY) bench/cold_start.py --out bench/results/cold_start.json  # builds the image if missing (root)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
