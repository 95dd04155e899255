# `make` sets everything up (once) and runs the main job; `make test` runs the test suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: all setup browser run report test lint bench clean
all: run

setup: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e ".[all]"
	touch $@

# the report's browser test needs Debian's chromium + chromedriver (skipped without them)
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then echo "chromium: $$(/usr/bin/chromium --version)"; \
	else SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); $$SUDO apt-get update -q && \
	  $$SUDO apt-get install -y -q --no-install-recommends chromium chromium-driver; fi

# every case in cases/ through every installed framework → reports/results.parquet (+ report)
run: setup
	$(BIN)/harness run cases -o reports/results.parquet; status=$$?; \
	if $(BIN)/harness report --help >/dev/null 2>&1; then \
	  $(BIN)/harness report reports/results.parquet -o reports/index.html; fi; \
	exit $$status

test: setup
	$(BIN)/python -m pytest -n auto

lint: setup
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) reports/*.parquet reports/*.html reports/*.csv reports/.parts
