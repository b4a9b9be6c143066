# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Optional extras: `make test EXTRAS=dev,diffusion` adds the diffusers provider (torch); the
# embedded default (make demo) stays torch-free. .ci/run installs both.
EXTRAS ?= dev
# pip takes this CPU build from the machine's wheel folder; an open `torch>=2.4` resolved fresh
# would pick PyPI's newest CUDA build (gigabytes). GPU machines: TORCH_PIN= and your CUDA wheel.
TORCH_PIN ?= torch==2.13.0
comma := ,
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))

.PHONY: install migrate demo test lint bench fuzz soak smoke-replicate replicate-server clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	@case ",$(EXTRAS)," in *,diffusion,*) [ -z "$(TORCH_PIN)" ] || \
		$(PY) -m pip install --quiet --disable-pip-version-check "$(TORCH_PIN)";; esac
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[$(EXTRAS)]"
	touch $(STAMP)

install: $(STAMP)

# settings.py refuses to start with DEBUG off and no DJANGO_SECRET_KEY: the embedded default gets
# a key of its own, made once per checkout (production sets DJANGO_SECRET_KEY instead).
SECRET_FILE := var/secret-key

$(SECRET_FILE):
	mkdir -p var
	$(PYTHON) -c "import secrets; print(secrets.token_urlsafe(50))" > $@
	chmod 600 $@

migrate: install $(SECRET_FILE)
	DJANGO_SECRET_KEY=$${DJANGO_SECRET_KEY:-$$(cat $(SECRET_FILE))} $(PY) manage.py migrate --noinput

# A real 4-scene generation on the embedded default (SQLite, django-q2's ORM broker, the local
# model), run by a real qcluster that the command starts and stops.
demo: migrate
	DJANGO_SECRET_KEY=$${DJANGO_SECRET_KEY:-$$(cat $(SECRET_FILE))} \
		$(PY) manage.py generate docs/examples/demo.json --wait --run-cluster

lint: install
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports

# Two pytest-xdist workers (the machine's two cores): tests that start processes run one at a
# time on one of them (tests/conftest.py groups them), the rest spread over both. TEST_WORKERS=0
# runs everything in one process.
TEST_WORKERS ?= 2
PYTEST_XDIST := $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadgroup)

test: lint
	$(PY) manage.py makemigrations --check --dry-run --settings=coherence_project.test_settings
	$(PY) -m pytest $(PYTEST_XDIST) $(PYTEST_ARGS)

# `make test` already fuzzes the API briefly (tests/generations/api/test_fuzz.py); this is a longer session.
fuzz: install
	COHERENCE_FUZZ_EXAMPLES=$${COHERENCE_FUZZ_EXAMPLES:-300} $(PY) -m pytest tests/generations/api/test_fuzz.py

bench: install
	$(PY) -m bench.localmodel_bench
	$(PY) -m bench.media_bench
	$(PY) -m bench.pipeline_bench
	$(PY) -m bench.polling_bench
	$(PY) -m bench.recovery_bench
	$(PY) -m bench.coherence_ablation
	$(PY) -m bench.iterate_bench
	$(PY) -m bench.diffusion_bench

# A larger load + faults run than `make test`'s short soak (12 generations; figures for the
# closing note).
soak: install
	COHERENCE_SOAK_GENERATIONS=$${COHERENCE_SOAK_GENERATIONS:-150} $(PY) -m pytest -m soak -s -q

# A real 2-scene generation on Replicate (seedance-1-lite, 2 x 2 s at 480p: about $0.07), polled
# (no public webhook needed). Without REPLICATE_API_TOKEN it says so and succeeds, sending nothing.
SMOKE_PLAN := docs/examples/smoke-replicate.json
smoke-replicate: migrate
	@if [ -z "$$REPLICATE_API_TOKEN" ]; then \
		echo "smoke-replicate: REPLICATE_API_TOKEN is not set; skipped, nothing was sent to Replicate"; \
		exit 0; \
	fi; \
	set -e; \
	export COHERENCE_PROVIDER=replicate COHERENCE_PUBLIC_URL=; \
	$(PY) manage.py sync_models bytedance/seedance-1-lite; \
	$(PY) manage.py generate $(SMOKE_PLAN) --dry-run; \
	$(PY) manage.py generate $(SMOKE_PLAN) --wait --run-cluster --timeout 900

# The loopback Replicate double as a dev tool (tests/doubles): point REPLICATE_BASE_URL at it.
replicate-server: install
	$(PY) -m tests.doubles.replicate_server --port $${PORT:-8765}

clean:
	rm -rf var .pytest_cache
