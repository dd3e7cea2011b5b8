# The two commands of a fresh machine: `make demo` and `make test`.
# The system's Python where it is 3.11+ and makes virtualenvs (Debian's: the interpreter the
# image runs, built with PGO and LTO, so the suite tests what ships), else the first python3
# on the PATH.
SYSTEM_PYTHON := /usr/bin/python3
ifndef PYTHON
PYTHON := $(shell $(SYSTEM_PYTHON) -c 'import sys, ensurepip, venv; \
	sys.exit(sys.version_info < (3, 11))' 2>/dev/null && echo $(SYSTEM_PYTHON) || echo python3)
endif
VENV := .venv
BIN := $(VENV)/bin
HUB := $(BIN)/lapor-hub
PYTEST_ARGS ?=
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: install demo test lint browser image test-image broker-start broker-stop clean

# cargo where rustup puts it, even when the shell's PATH does not say so
CARGO_BIN := $(HOME)/.cargo/bin
NATIVE := native/textmatch

$(BIN)/.installed: pyproject.toml $(NATIVE)/Cargo.toml $(NATIVE)/Cargo.lock $(NATIVE)/src/lib.rs
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@# routing's text scan in Rust (hub/routing/scan.py); without cargo the Python one serves
	@if PATH="$(CARGO_BIN):$$PATH" command -v cargo >/dev/null; then \
		PATH="$(CARGO_BIN):$$PATH" $(BIN)/python -m pip install --quiet ./$(NATIVE); \
	else \
		echo "cargo not found: routing will use the slower Python text scan (install Rust to build $(NATIVE))"; \
	fi
	touch $@

## install: the virtualenv, the package with its dev tools, and the Kafka broker's jars
install: $(BIN)/.installed
	$(HUB) broker install

## demo: start the local Kafka broker and send sample reports through the hub
demo: install
	$(HUB) demo

## test: lint, then the whole suite against a real broker (stopped afterwards, even on failure)
test: install lint browser
	HUB=$(HUB) bash deploy/local/with-broker.sh $(BIN)/python -m pytest $(PYTEST_ARGS)

## browser: Debian's chromium and its driver, for the console's browser tests
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		$(SUDO) apt-get install -y -q chromium chromium-driver || \
		{ $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium chromium-driver; }

## image: the hub's OCI image (buildah from Debian packages; installs buildah and debootstrap)
image: $(BIN)/.installed
	@command -v buildah >/dev/null && command -v debootstrap >/dev/null || \
		$(SUDO) apt-get install -y -q buildah debootstrap || \
		{ $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q buildah debootstrap; }
	bash deploy/image/build.sh

## test-image: build the image, then run `lapor-hub version` and `lapor-hub up` inside it
test-image: image
	HUB=$(HUB) bash deploy/local/with-broker.sh $(BIN)/python -m pytest -m image tests/image

## lint: ruff, the schema check (every version compatible both ways) and the rules check
lint: $(BIN)/.installed
	$(BIN)/ruff check hub connectors tests bench
	$(HUB) schemas check
	$(HUB) rules check

broker-start: install
	$(HUB) broker start

broker-stop:
	$(HUB) broker stop

## clean: stop brokers and delete the virtualenv and every local broker's data and jars
clean:
	-$(HUB) broker stop
	rm -rf $(VENV) .lapor-hub
