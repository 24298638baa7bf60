# loan_widgets: build, test and demo targets. GNU make; needs only python3 to start.
#
#   make lab     JupyterLab on notebooks/quickstart.ipynb, sandbox exchange, no keys
#   make trust   mark the project's notebooks trusted (lab and app do it first)
#   make app     the loan app (LoanDesk + BorrowWidget) with Voila on 127.0.0.1 (sandbox unless
#                NETWORK=testnet|mainnet; another HOST with keys needs ALLOW_REMOTE=1)
#   make check   the quick inner loop: ruff, mypy, pytest tests/ without browser and slow tests
#   make test    ruff, mypy, pytest tests/ (browser tests included), nbval on notebooks/
#   make typecheck  mypy as pyproject.toml configures it (strict for the core)
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
comma := ,
ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

# The project's notebooks: those git knows (committed or added), so scratch notebooks made in
# `make lab` are neither tested nor trusted. Outside a git checkout: every notebook but
# JupyterLab's scratch names (Untitled*.ipynb, *-Copy*.ipynb; also in .gitignore).
NOTEBOOKS := $(shell git ls-files -- 'notebooks/*.ipynb' 2>/dev/null)
ifeq ($(NOTEBOOKS),)
NOTEBOOKS := $(shell ls notebooks/*.ipynb 2>/dev/null | grep -v -e '/Untitled[^/]*$$' -e '-Copy[0-9]*\.ipynb$$')
endif
SANITIZE  := $(wildcard notebooks/sanitize.cfg)

# Jupyter, quietly: the project's notebooks are trusted (the signatures are kept in the venv,
# not in the user's Jupyter folders), kernels get CurveZMQ keys from the server so their
# TCP channels are encrypted, and JupyterLab runs without the classic notebook's config shim,
# which reads a deprecated server option (ServerApp.token) on start; JupyterLab 4 and Voila do
# not need it. A token, if you set one, goes in JUPYTER_TOKEN or --IdentityProvider.token.
JUPYTER_DATA := $(abspath $(VENV))/share/jupyter
NOTARY       := --NotebookNotary.db_file=$(JUPYTER_DATA)/nbsignatures.db \
	--NotebookNotary.secret_file=$(JUPYTER_DATA)/notebook_secret
KERNELS      := --MappingKernelManager.transport_encryption=auto

# Tests never see real credentials, profiles or keyring, another exchange, or the user's ledger.
TEST_LEDGER := $(abspath $(VENV)/test-ledger.sqlite3)
NO_KEYS     := env -u BYBIT_API_KEY -u BYBIT_API_SECRET -u BYBIT_API_PRIVATE_KEY_FILE \
	$(foreach n,TESTNET MAINNET,-u BYBIT_$(n)_API_KEY -u BYBIT_$(n)_API_SECRET \
	-u BYBIT_$(n)_API_PRIVATE_KEY_FILE)
# Loopback sandboxes are reached directly even where a proxy is set (other hosts keep it).
TEST_ENV    := $(NO_KEYS) -u LOAN_WIDGETS_BASE_URL -u LOAN_WIDGETS_TIMEOUT \
	no_proxy=localhost,127.0.0.1,::1$(if $(no_proxy)$(NO_PROXY),$(comma)$(or $(no_proxy),$(NO_PROXY))) \
	LOAN_WIDGETS_NETWORK=sandbox LOAN_WIDGETS_SANDBOX_SEED=0 LOAN_WIDGETS_LEDGER=$(TEST_LEDGER) \
	LOAN_WIDGETS_CONFIG_DIR=$(abspath $(VENV)/test-config) \
	PYTHON_KEYRING_BACKEND=keyring.backends.fail.Keyring

.DEFAULT_GOAL := help
.PHONY: help venv trust lab app check test lint typecheck bench clean distclean

help:
	@echo "make lab | app | trust | check | test | lint | typecheck | bench | clean | distclean   (venv: $(VENV), PYTHON=$(PYTHON))"

# The venv is rebuilt (pip install -e) whenever pyproject.toml changes.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "make needs Python 3.11 or newer (pandas 3 and its type stubs); try: make PYTHON=python3.11 ...")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install -e ".[test]"
	touch $@

venv: $(STAMP)

trust: $(STAMP)
	$(BIN)/jupyter trust $(NOTARY) $(NOTEBOOKS)

lab: trust
	$(NO_KEYS) LOAN_WIDGETS_NETWORK=sandbox \
		$(BIN)/jupyter lab --ip=127.0.0.1 --port=$(LAB_PORT) $(ROOT_FLAG) $(NOTARY) $(KERNELS) \
		--ServerApp.jpserver_extensions=notebook_shim=False notebooks/quickstart.ipynb

# On the sandbox the launcher drops the credential variables; serving testnet or mainnet keys
# on anything but loopback needs ALLOW_REMOTE=1 (see the README's "The loan desk" section).
app: trust
	$(BIN)/python -m loan_widgets.desk.app --notebook=notebooks/app.ipynb --host=$(HOST) \
		--port=$(APP_PORT) --network=$(NETWORK) $(if $(filter 1,$(ALLOW_REMOTE)),--allow-remote) \
		$(NOTARY) $(KERNELS)

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/python -m mypy

check: lint typecheck
	rm -f $(TEST_LEDGER)
	$(TEST_ENV) $(BIN)/python -m pytest -q -m "not browser and not slow" tests/

test: lint typecheck
	rm -f $(TEST_LEDGER)
	$(TEST_ENV) $(BIN)/python -m pytest tests/
ifneq ($(NOTEBOOKS),)
	rm -f $(TEST_LEDGER)
	$(TEST_ENV) $(BIN)/python -m pytest --nbval --nbval-current-env \
		$(if $(SANITIZE),--nbval-sanitize-with $(SANITIZE)) $(NOTEBOOKS)
else
	@echo "no notebooks/*.ipynb: nbval skipped"
endif

bench: $(STAMP)
	rm -f $(abspath $(VENV)/bench-ledger.sqlite3)
	$(NO_KEYS) LOAN_WIDGETS_NETWORK=sandbox LOAN_WIDGETS_LEDGER=$(abspath $(VENV)/bench-ledger.sqlite3) \
		$(BIN)/python benchmarks/run.py

clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache .mypy_cache .test-artifacts
	rm -f $(TEST_LEDGER) $(VENV)/bench-ledger.sqlite3
	find . -path ./$(VENV) -prune -o \( -name __pycache__ -o -name .ipynb_checkpoints \) \
		-type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
