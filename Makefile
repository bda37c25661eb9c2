# Two commands do all set-up:  `make lab` (the course in JupyterLab) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.inferlab-installed
PORT   ?= 8888
# Extra pip arguments for torch alone, e.g. TORCH_PIP_ARGS="--index-url <PyTorch's CPU wheel index>"
TORCH_PIP_ARGS ?=
ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

.PHONY: install lab test labs check clean

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first, pinned: a range would pull a multi-GB CUDA build where a CPU wheel is wanted
	$(BIN)/python -m pip install -q $$(grep '^torch==' requirements.txt) $(TORCH_PIP_ARGS)
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

lab: install
	@TOKEN=$$($(BIN)/python -c 'import secrets; print(secrets.token_hex(16))'); \
	echo "InferLab: open http://127.0.0.1:$(PORT)/lab/tree/course/00_index.ipynb?token=$$TOKEN"; \
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/jupyter lab --ip 127.0.0.1 --port $(PORT) $(ROOT_FLAG) \
	  --ServerApp.root_dir="$(CURDIR)" --IdentityProvider.token=$$TOKEN \
	  --LabApp.default_url=/lab/tree/course/00_index.ipynb

test: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q -n 2 --durations=15

labs: install
	$(BIN)/inferlab build

check: install
	$(BIN)/inferlab check

clean:
	rm -rf $(VENV) .pytest_cache gradebook.db exchange
