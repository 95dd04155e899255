# `make` sets everything up (once) and runs the main job; `make test` runs the test suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: all setup browser clang run report test partial lint bench chainer deploy paddle tvm mindspore tinygrad versions clean
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

# tinygrad's CPU device compiles its kernels with clang (without it tinygrad's rows are skipped)
clang:
	@if command -v clang >/dev/null; then echo "clang: $$(clang --version | head -1)"; \
	else SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); $$SUDO apt-get update -q && \
	  $$SUDO apt-get install -y -q --no-install-recommends clang; fi

# every case in cases/ through every installed framework → reports/results.parquet (+ report)
run: setup
	$(BIN)/harness run cases -j auto -o reports/results.parquet; status=$$?; \
	$(MAKE) --no-print-directory report; exit $$status

# the HTML report of the main run, with the chainer and deployment-runtime runs beside it where made
DEPLOY := paddle tvm mindspore tinygrad
report:
	$(BIN)/harness report $(wildcard reports/results.parquet reports/results-chainer.parquet $(DEPLOY:%=reports/results-%.parquet)) -o reports/index.html

# Chainer's own environment (numpy < 2): its results join the report of the next `make report`
chainer: setup
	$(BIN)/tox -e chainer
	$(MAKE) --no-print-directory report

# PaddlePaddle, Apache TVM, MindSpore, tinygrad: each in its own tox env (heavy, pins that conflict with
# the main venv's, or slow: tinygrad compiles each kernel with clang), the case library and its adapter's tests; their results join the next `make report`
deploy: setup clang
	$(BIN)/tox -e $$(echo $(DEPLOY) | tr ' ' ',')
	$(MAKE) --no-print-directory report
$(DEPLOY): setup
tinygrad: clang
	$(BIN)/tox -e $@
	$(MAKE) --no-print-directory report

# each framework at two versions (tox.ini), one page side by side, and a diff per framework
VERSION_PAIRS := tensorflow-v2.20:tensorflow-v2.21 jax-v0.9:jax-v0.10 onnxruntime-v1.24:onnxruntime-v1.31
versions: setup
	$(BIN)/tox -e $$(echo $(VERSION_PAIRS) | tr ': ' ',,')
	$(BIN)/harness report $(foreach p,$(VERSION_PAIRS),$(foreach e,$(subst :, ,$(p)),$(e)=reports/results-$(e).parquet)) \
	  -o reports/versions.html --title "Framework versions side by side"
	@for pair in $(VERSION_PAIRS); do old=$${pair%%:*}; new=$${pair##*:}; echo "== $$old → $$new"; \
	  $(BIN)/harness diff reports/results-$$old.parquet reports/results-$$new.parquet \
	    --html reports/diff-$$old-$$new.html || true; done

test: setup
	$(BIN)/python -m pytest -n auto

# a partial install (base package + torch only) in its own tox env: nothing may need the other frameworks
partial: setup
	$(BIN)/tox -e partial-torch

lint: setup
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) reports/*.parquet reports/*.html reports/*.csv reports/.parts
