# The two commands of the README. Both set everything up first.
.PHONY: run chat test setup bench clean

VENV := .venv
HOST ?= 127.0.0.1
PORT ?= 8000

$(VENV)/.setup-%: pyproject.toml tools/setup.sh
	bash tools/setup.sh $*
	touch $@

setup: $(VENV)/.setup-test

# The demo: demo data, the 演示 banner, and the FAKE sandbox payment provider (see README, modes).
run: export XIAODIAN_DEMO ?= true
# Payment links and QR codes name the address served (xiaodian serve refuses a mismatch); on 0.0.0.0,
# this machine's first network address, which phones in the hall can reach.
run: export XIAODIAN_PUBLIC_URL ?= http://$(if $(filter 0.0.0.0,$(HOST)),$(firstword $(shell hostname -I)),$(HOST)):$(PORT)
run: $(VENV)/.setup-run
	$(VENV)/bin/xiaodian db init
	$(VENV)/bin/xiaodian models prepare
	$(VENV)/bin/xiaodian serve --host $(HOST) --port $(PORT)

chat: export XIAODIAN_DEMO ?= true
chat: $(VENV)/.setup-run
	$(VENV)/bin/xiaodian chat

test: $(VENV)/.setup-test
	$(VENV)/bin/python -m pytest

bench: setup
	$(VENV)/bin/python bench/intents.py
	$(VENV)/bin/python bench/speech.py
	$(VENV)/bin/python bench/dialogue.py
	$(VENV)/bin/python bench/server.py

clean:
	rm -rf $(VENV) var
