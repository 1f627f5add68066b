# Two commands on a fresh machine: `make run` and `make test`.
# Setup is lazy: .venv is created once and re-installed only when pyproject.toml changes.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
EXTRAS ?= dev,ray

.PHONY: run test lint setup sample docs-screenshots clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	@touch $(STAMP)

run: setup
	$(PY) -m annotator resources/sample.mp4

lint: setup
	$(VENV)/bin/ruff check annotator tests bench packaging resources docs
	$(VENV)/bin/lint-imports  # the layer contracts in pyproject.toml

test: setup lint
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

sample: setup
	$(PY) resources/make_sample.py

# The user guide's screenshots (docs/images), made by driving the real window offscreen.
docs-screenshots: setup
	QT_QPA_PLATFORM=offscreen $(PY) docs/make_screenshots.py

clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache
