# Developer and CI entry points. `make test` is what CI runs (through .ci/run).
SHELL := /bin/bash
VENV  := .venv

.PHONY: test testenv-up testenv-down synth examples lint bench lambda clean

# Start the test servers, run every test with .testenv/env loaded, always tear down.
# The exit code is the tests' own; on failure the server log tails are printed first.
test:
	@set -euo pipefail; \
	trap 'rc=$$?; [ $$rc -eq 0 ] || scripts/testenv.sh logs; scripts/testenv.sh down || true; exit $$rc' EXIT; \
	scripts/testenv.sh up; \
	. .testenv/env; \
	cargo test --workspace --all-targets; \
	if [ -f scripts/lint-templates.sh ]; then bash scripts/lint-templates.sh $(VENV); fi

# Servers stay up for iterative work: `. .testenv/env && cargo test ...`
testenv-up:
	scripts/testenv.sh up

testenv-down:
	scripts/testenv.sh down

# Placeholder: render the example template (the lead adjusts).
synth:
	cargo run -q -p synth -- render examples/postgres-single-user.yaml -o examples/postgres-single-user.template.yaml

# Placeholder: regenerate all examples.
examples:
	@echo "examples: not yet"

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

# Placeholder (the lead fills it).
bench:
	@echo "bench: not yet"

# Package the function as a zip with cargo-lambda from the venv (placeholder; needs the
# aarch64-unknown-linux-gnu Rust target installed).
lambda: $(VENV)/bin/cargo-lambda
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cargo lambda build --release --arm64 --output-format zip

$(VENV)/bin/cargo-lambda: scripts/requirements-lambda.txt
	[ -x $(VENV)/bin/python ] || python3 -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q -r scripts/requirements-lambda.txt
	touch $@

# Stop servers and remove generated state, the venv and build output.
clean:
	scripts/testenv.sh down
	rm -rf $(VENV) dist
	cargo clean
