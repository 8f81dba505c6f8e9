# Two commands for a new user: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run chat test check bench score clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	rm -f $(VENV)/.installed-* && touch $@

run: $(STAMP)        ## Telegram when TELEGRAM_BOT_TOKEN is set, else the offline console chat
	$(BIN)/python -m bot run

chat: $(STAMP)       ## the offline console chat
	$(BIN)/python -m bot chat

test: $(STAMP)       ## lint, content check, then the test suite
	$(BIN)/ruff check .
	$(BIN)/python -m bot content check
	$(BIN)/python -m pytest

bench: $(STAMP)      ## matcher latency and start-up time
	$(BIN)/python -m bot bench match

score: $(STAMP)      ## the dev-set score (needs ../shared)
	$(BIN)/python ../shared/eval/score.py ../shared/eval/dev.jsonl

clean:
	rm -rf $(VENV) var .pytest_cache
