# Two commands do all set-up:  `make lab` (the course in JupyterLab) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.inferlab-installed
PORT   ?= 8888
# Extra pip arguments for torch alone, e.g. TORCH_PIP_ARGS="--index-url <PyTorch's CPU wheel index>"
TORCH_PIP_ARGS ?=
ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

# The learner's JupyterLab hides the instructor's tools (formgrader, Create Assignment, course list):
# jupyter/learner is its configuration folder. `make instructor` starts it with everything on.
# (The server extensions are switched off on the command line: it is the one setting that outranks the
# sys-prefix configuration nbgrader's install writes.)
LEARNER := JUPYTER_CONFIG_DIR="$(CURDIR)/jupyter/learner"
LEARNER_FLAGS := '--ServerApp.jpserver_extensions={"nbgrader.server_extensions.formgrader": False, "nbgrader.server_extensions.course_list": False}'
RELEASED := exchange/.released

.PHONY: install lab instructor test labs check clean

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first, pinned: a range would pull a multi-GB CUDA build where a CPU wheel is wanted
	$(BIN)/python -m pip install -q $$(grep '^torch==' requirements.txt) $(TORCH_PIP_ARGS)
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# The labs released to the local course exchange, for the Assignment List (once; again when a lab changes).
$(RELEASED): $(wildcard labs/*/*.ipynb) | install
	@for lab in $$(ls labs); do PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/nbgrader release_assignment $$lab --force \
	  --log-level=ERROR --db=sqlite:///$(CURDIR)/.inferlab/learner-gradebook.db >/dev/null 2>&1 || echo "note: $$lab not released"; done
	@touch $@

# JupyterLab's log goes to .inferlab/jupyter.log; the address is printed last, once the server answers.
define serve
	@mkdir -p .inferlab; TOKEN=$$($(BIN)/python -c 'import secrets; print(secrets.token_hex(16))'); \
	URL="http://127.0.0.1:$(PORT)/lab/tree/course/00_index.ipynb?token=$$TOKEN"; \
	echo "starting JupyterLab (log: .inferlab/jupyter.log) ..."; \
	$(1) PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/jupyter lab --no-browser --ip 127.0.0.1 --port $(PORT) $(ROOT_FLAG) \
	  --ServerApp.root_dir="$(CURDIR)" --IdentityProvider.token=$$TOKEN \
	  --LabApp.default_url=/lab/tree/course/00_index.ipynb $(3) > .inferlab/jupyter.log 2>&1 & PID=$$!; \
	trap 'kill $$PID 2>/dev/null' INT TERM EXIT; \
	READY=; for i in $$(seq 360); do kill -0 $$PID 2>/dev/null || break; \
	  $(BIN)/python -c 'import sys, urllib.request as u; u.urlopen(sys.argv[1], timeout=5)' \
	    "http://127.0.0.1:$(PORT)/api/status?token=$$TOKEN" 2>/dev/null && { READY=1; break; }; sleep 0.5; done; \
	[ -n "$$READY" ] || { tail -20 .inferlab/jupyter.log; echo "JupyterLab did not start (port $(PORT) in use? try: make lab PORT=8899)"; exit 1; }; \
	echo; echo "InferLab is ready$(2). Open (Ctrl-C here stops the server):"; echo; echo "    $$URL"; echo; \
	wait $$PID
endef

lab: install $(RELEASED)
	$(call serve,$(LEARNER),,$(LEARNER_FLAGS))

instructor: install
	$(call serve,,: instructor tools on (formgrader, Create Assignment))

test: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q -n 2 --dist loadgroup --no-loadscope-reorder --durations=25

labs: install
	$(BIN)/inferlab build

check: install
	$(BIN)/inferlab check

clean:
	rm -rf $(VENV) .pytest_cache gradebook.db exchange .inferlab/learner-gradebook.db .ci/artifacts
