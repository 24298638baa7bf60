# loan_widgets: build, test and demo targets. GNU make; needs only python3 to start.
#
#   make lab     JupyterLab on notebooks/quickstart.ipynb, sandbox exchange, no keys
#   make app     the loan app (LoanDesk + BorrowWidget) with Voila on 127.0.0.1 (sandbox unless
#                NETWORK=testnet|mainnet; another HOST with keys needs ALLOW_REMOTE=1)
#   make check   the quick inner loop: ruff, pytest tests/ without browser and slow tests
#   make test    ruff, pytest tests/ (browser tests included), nbval on notebooks/
#   make bench   benchmarks/run.py against the sandbox
#   make clean   caches and test artefacts;  make distclean  also the venv

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.stamp

LAB_PORT ?= 8888
APP_PORT ?= 8866
HOST     ?= 127.0.0.1
ALLOW_REMOTE ?=
NETWORK  ?= sandbox

# Jupyter refuses to run as root unless told to.
ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

NOTEBOOKS := $(wildcard notebooks/*.ipynb)
SANITIZE  := $(wildcard notebooks/sanitize.cfg)

# Tests never see real credentials, another exchange, or the user's ledger.
TEST_LEDGER := $(abspath $(VENV)/test-ledger.sqlite3)
NO_KEYS     := env -u BYBIT_API_KEY -u BYBIT_API_SECRET -u BYBIT_API_PRIVATE_KEY_FILE
TEST_ENV    := $(NO_KEYS) -u LOAN_WIDGETS_BASE_URL -u LOAN_WIDGETS_TIMEOUT \
	LOAN_WIDGETS_NETWORK=sandbox LOAN_WIDGETS_SANDBOX_SEED=0 LOAN_WIDGETS_LEDGER=$(TEST_LEDGER)

.DEFAULT_GOAL := help
.PHONY: help venv lab app check test lint bench clean distclean

help:
	@echo "make lab | app | check | test | lint | bench | clean | distclean   (venv: $(VENV), PYTHON=$(PYTHON))"

# The venv is rebuilt (pip install -e) whenever pyproject.toml changes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install -e ".[test]"
	touch $@

venv: $(STAMP)

lab: $(STAMP)
	$(NO_KEYS) LOAN_WIDGETS_NETWORK=sandbox \
		$(BIN)/jupyter lab --ip=127.0.0.1 --port=$(LAB_PORT) $(ROOT_FLAG) notebooks/quickstart.ipynb

# On the sandbox the launcher drops the credential variables; serving testnet or mainnet keys
# on anything but loopback needs ALLOW_REMOTE=1 (see the README's "Loan desk" section).
app: $(STAMP)
	$(BIN)/python -m loan_widgets.desk.app --notebook=notebooks/app.ipynb --host=$(HOST) \
		--port=$(APP_PORT) --network=$(NETWORK) $(if $(filter 1,$(ALLOW_REMOTE)),--allow-remote)

lint: $(STAMP)
	$(BIN)/ruff check .

check: lint
	rm -f $(TEST_LEDGER)
	$(TEST_ENV) $(BIN)/python -m pytest -q -m "not browser and not slow" tests/

test: lint
	rm -f $(TEST_LEDGER)
	$(TEST_ENV) $(BIN)/python -m pytest tests/
ifneq ($(NOTEBOOKS),)
	rm -f $(TEST_LEDGER)
	$(TEST_ENV) $(BIN)/python -m pytest --nbval --nbval-current-env \
		$(if $(SANITIZE),--nbval-sanitize-with $(SANITIZE)) notebooks/
else
	@echo "no notebooks/*.ipynb: nbval skipped"
endif

bench: $(STAMP)
	rm -f $(abspath $(VENV)/bench-ledger.sqlite3)
	$(NO_KEYS) LOAN_WIDGETS_NETWORK=sandbox LOAN_WIDGETS_LEDGER=$(abspath $(VENV)/bench-ledger.sqlite3) \
		$(BIN)/python benchmarks/run.py

clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache .test-artifacts
	rm -f $(TEST_LEDGER) $(VENV)/bench-ledger.sqlite3
	find . -path ./$(VENV) -prune -o \( -name __pycache__ -o -name .ipynb_checkpoints \) \
		-type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
