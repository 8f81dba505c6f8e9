# Two commands for a new user: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

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
	else echo "(the browser test needs Debian's chromium: WITH_BROWSER=1 make test installs it)"; fi
	$(BIN)/python -m pytest
	@if [ -n "$(CI)" ] || [ "$(WITH_POSTGRES)" = 1 ]; then \
		echo "bash scripts/test-postgres.sh -m both_databases"; bash scripts/test-postgres.sh -m both_databases; \
	else echo "(PostgreSQL variants skipped: make test-postgres, or WITH_POSTGRES=1 make test)"; fi

test-postgres: $(STAMP)  ## the test suite on SQLite and on a throw-away PostgreSQL (apt-get installs it if missing)
	bash scripts/test-postgres.sh

bench: $(STAMP)      ## matcher latency and start-up time
	$(BIN)/python -m bench match

score: $(STAMP)      ## the dev-set score (needs ../shared)
	$(BIN)/python ../shared/eval/score.py ../shared/eval/dev.jsonl

clean:
	rm -rf $(VENV) var .pytest_cache
