# The two commands of the README. Both set everything up first.
.PHONY: run test setup bench clean

VENV := .venv

$(VENV)/.setup-%: pyproject.toml tools/setup.sh
	bash tools/setup.sh $*
	touch $@

setup: $(VENV)/.setup-test

run: $(VENV)/.setup-run
	$(VENV)/bin/xiaodian db init
	$(VENV)/bin/xiaodian models prepare
	$(VENV)/bin/xiaodian chat

test: $(VENV)/.setup-test
	$(VENV)/bin/python -m pytest

bench: setup
	$(VENV)/bin/python bench/intents.py
	$(VENV)/bin/python bench/speech.py

clean:
	rm -rf $(VENV) var
