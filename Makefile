# Limes. `make run` starts the app on the sample scenario; `make test` runs every test.
# Both create .venv first when needed: `make run` installs requirements.txt (what the app needs),
# `make test` also requirements-dev.txt (tests and tools).

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev
PORT ?= 8501

.PHONY: run test bench sample clean

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

$(DEVSTAMP): $(STAMP) requirements-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(DEVSTAMP)

run: $(STAMP)
	$(BIN)/streamlit run app.py --server.address localhost --server.port $(PORT)

test: $(DEVSTAMP)
	$(BIN)/python -m pytest

bench: $(DEVSTAMP)
	for f in bench/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

sample: $(STAMP)
	$(BIN)/python sample_data/make_sample.py
	$(BIN)/python sample_data/make_dem.py
	$(BIN)/python sample_data/make_tracks.py
	$(BIN)/python sample_data/make_places.py

clean:
	rm -rf $(VENV) .pytest_cache
