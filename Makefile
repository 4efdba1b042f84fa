# wide-deep-credit: every target sets up .venv first (idempotent; fast when up to date).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt setup.py pyproject.toml | cksum | cut -d' ' -f1)

# The same variables in every target (DATASET, MODEL_DIR, INPUT, OUTPUT); any other absl flag goes through
# FLAGS, e.g. make train DATASET=taiwan MODEL_DIR=runs/taiwan FLAGS="--epochs=5"
FLAGS ?=
NUM_ENTERPRISES ?= 129880
DATASET ?= sme
MODEL_DIR ?= runs/default
COMPARE_DIR ?= runs/paper
INPUT ?=
OUTPUT ?=
LABEL ?=
# ENGINE=spark: make shards / predict / monitor compute the transaction features (and predict its scores) on Spark
ENGINE ?=
REPORTS ?= results/*/report.html
export TF_CPP_MIN_LOG_LEVEL ?= 2
# OpenMP threads (LightGBM, scikit-learn) sleep rather than spin while they wait: see experiments/cli.py
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: setup install-check data shards spec train predict serve report check-report browser monitor ablation sensitivity test lint format docs bench bench-serve clean

$(STAMP): requirements.txt requirements-dev.txt setup.py pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing pinned dependencies into $(VENV) (first run only)..."
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@# setuptools' "Editable installation" notice (data/ is packaged under another name) is not a problem
	PYTHONWARNINGS="ignore:Editable installation" $(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.installed-*
	@$(PY) -m wide_deep.data.spark_engine --notice
	@touch $@

setup: $(STAMP)

data: $(STAMP)
	$(PY) -m experiments.generate_data --num_enterprises=$(NUM_ENTERPRISES) $(FLAGS)

shards: $(STAMP)
	$(PY) -m experiments.make_shards --dataset=$(DATASET) $(if $(INPUT),--input=$(INPUT)) --output_dir=$(OUTPUT) $(if $(ENGINE),--engine=$(ENGINE)) $(FLAGS)

spec: $(STAMP)
	$(PY) -m experiments.spec --input=$(INPUT) $(if $(LABEL),--label=$(LABEL)) $(if $(POSITIVE),--positive="$(POSITIVE)") $(if $(OUTPUT),--output=$(OUTPUT)) $(FLAGS)

train: $(STAMP)
	$(PY) -m experiments.train --dataset=$(DATASET) --model_dir=$(MODEL_DIR) $(FLAGS)

predict: $(STAMP)
	$(PY) -m experiments.predict --model_dir=$(MODEL_DIR) --input=$(INPUT) --output=$(OUTPUT) $(if $(ENGINE),--engine=$(ENGINE)) $(FLAGS)

serve: $(STAMP)
	$(PY) -m experiments.serve --model_dir=$(MODEL_DIR) $(FLAGS)

report: $(STAMP)
	$(PY) -m experiments.report --model_dir=$(MODEL_DIR) $(FLAGS)

monitor: $(STAMP)
	$(PY) -m experiments.monitor --model_dir=$(MODEL_DIR) --input=$(INPUT) $(if $(ENGINE),--engine=$(ENGINE)) $(FLAGS)

# The reports laid out in headless Chromium at 1280 and 1024 px: fails on anything wider than the page
# (screenshots in runs/report_check/). Installs Debian's chromium first when it is missing.
check-report: $(STAMP)
	$(if $(findstring --browser,$(FLAGS)),,@command -v chromium >/dev/null || command -v chromium-browser >/dev/null \
		|| command -v google-chrome >/dev/null || $(MAKE) --no-print-directory browser)
	$(PY) -m experiments.check_report --reports="$(REPORTS)" --screenshot_dir=runs/report_check $(FLAGS)

browser:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing Debian's chromium for the layout check..."; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "error: install Chromium (Debian: sudo apt-get install chromium) or pass FLAGS=--browser=PATH" >&2; exit 2; fi

ablation: $(STAMP)
	$(PY) -m experiments.ablation --dataset=$(DATASET) $(FLAGS)

sensitivity: $(STAMP)
	$(PY) -m experiments.sensitivity --dataset=$(DATASET) $(FLAGS)

bench: $(STAMP)
	$(PY) -m experiments.bench $(FLAGS)

bench-serve: $(STAMP)
	@test -d $(MODEL_DIR)/export || $(MAKE) train MODEL_DIR=$(MODEL_DIR)
	@test -d $(COMPARE_DIR)/export || $(MAKE) train MODEL_DIR=$(COMPARE_DIR) FLAGS="--preset=paper"
	$(PY) -m experiments.bench_serve --model_dir=$(MODEL_DIR) --compare_model_dirs=$(COMPARE_DIR) $(FLAGS)

# Two pytest workers (both cores); each test file runs whole on one of them (its fixtures built once).
test: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadfile tests

# A fresh venv, `pip install .` from the registry, then train and score from outside the repository.
install-check:
	bash .ci/install-check

# ruff (style, complexity and size limits in pyproject.toml), then the import layers and size limits of
# tests/test_architecture.py (no TensorFlow: a second)
# The documentation site (docs/, mkdocs.yml) into runs/site: warnings are errors, internal links and anchors checked.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -q -p no:cacheprovider tests/test_architecture.py

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf runs data/sme data/cache
