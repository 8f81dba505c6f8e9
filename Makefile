# Two commands for a new user: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
STARTED := $(shell date +%s)

.PHONY: run chat test test-postgres check bench score clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	rm -f $(VENV)/.installed-* && touch $@

run: $(STAMP)        ## Telegram when TELEGRAM_BOT_TOKEN is set, else the offline console chat
	$(BIN)/python -m bot run

chat: $(STAMP)       ## the offline console chat
	$(BIN)/python -m bot chat

test: $(STAMP)       ## lint, content check, then the test suite (on CI, or with WITH_BROWSER=1 / WITH_POSTGRES=1, with Chromium and on PostgreSQL too)
	$(BIN)/ruff check .
	$(BIN)/python -m bot content check
	@if [ -n "$(CI)" ] || [ "$(WITH_BROWSER)" = 1 ]; then bash scripts/install-chromium.sh; \
	elif ! command -v chromium >/dev/null 2>&1; then \
		echo "(the browser test is skipped without Debian's chromium: WITH_BROWSER=1 make test installs it)"; fi
	@started=$$(date +%s); $(BIN)/python -m pytest; status=$$?; \
		echo "make test: the test suite took $$(( $$(date +%s) - started )) s"; exit $$status
	@if [ -n "$(CI)" ] || [ "$(WITH_POSTGRES)" = 1 ]; then \
		echo "bash scripts/test-postgres.sh -m both_databases"; bash scripts/test-postgres.sh -m both_databases; \
	else echo "(PostgreSQL variants skipped: make test-postgres, or WITH_POSTGRES=1 make test)"; fi
	@echo "make test: $$(( $$(date +%s) - $(STARTED) )) s in all (set-up, lint, content check, tests)"

test-postgres: $(STAMP)  ## the test suite on SQLite and on a throw-away PostgreSQL (apt-get installs it if missing)
	bash scripts/test-postgres.sh

bench: $(STAMP)      ## matcher latency and start-up time
	$(BIN)/python -m bench match

# the project's shared evaluation folder (eval/score.py, eval/dev.jsonl), beside the clone
SHARED ?= ../shared

score: $(STAMP)      ## the dev-set score (needs $(SHARED); make score SHARED=/path/to/shared)
	@if [ ! -f "$(SHARED)/eval/score.py" ] || [ ! -f "$(SHARED)/eval/dev.jsonl" ]; then \
		echo "make score: $(SHARED)/eval/score.py and dev.jsonl are not here: the shared evaluation folder is not part of the repository; put it beside the clone or run make score SHARED=/path/to/shared" >&2; exit 2; fi
	$(BIN)/python $(SHARED)/eval/score.py $(SHARED)/eval/dev.jsonl

clean:
	rm -rf $(VENV) var .pytest_cache
