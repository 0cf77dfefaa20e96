# Developer and CI entry points. `make test` is what CI runs (through .ci/run).
SHELL := /bin/bash
VENV  := .venv

.PHONY: test testenv-up testenv-down synth examples reference fuzz lint lambda-e2e bench bench-synth lambda layer clean demo

# Build every test while the servers start and the template linters run beside the build (they
# need the venv the servers' start makes, and no compiled code); then run every test with
# .testenv/env loaded, the Lambda end-to-end test, the example stacks deployed into moto's
# CloudFormation (package, deploy, update, delete), and the demo (which checks its own output
# for passwords); always tear down. The end-to-end tests and the demo run the binaries the cargo
# tests built (SYNTH_BIN, BOOTSTRAP), so nothing compiles twice.
# The exit code is the tests' own; on failure the server log tails are printed first.
# Plain `cargo test` skips the integration tests without servers; here a skip is a failure
# (ROTATION_TEST_REQUIRE_SERVERS, also in .testenv/env, set again against a stale env file).
test:
	@set -euo pipefail; \
	side=""; side_log="$$(mktemp)"; lint_rc="$$(mktemp)"; \
	trap 'rc=$$?; [ -z "$$side" ] || wait "$$side" 2>/dev/null || true; [ $$rc -eq 0 ] || scripts/testenv.sh logs; scripts/testenv.sh down || true; rm -f "$$side_log" "$$lint_rc"; exit $$rc' EXIT; \
	t=$$SECONDS; took() { echo "make test: $$1 took $$((SECONDS - t)) s"; t=$$SECONDS; }; \
	{ scripts/testenv.sh up || exit 1; \
	  rc=0; bash scripts/lint-templates.sh $(VENV) || rc=$$?; echo "$$rc" >"$$lint_rc"; } >"$$side_log" 2>&1 & side=$$!; \
	cargo test --workspace --all-targets --no-run; took "building the tests"; \
	if ! wait "$$side"; then side=""; cat "$$side_log"; echo "make test: the servers did not start"; exit 1; fi; \
	side=""; cat "$$side_log"; took "waiting for the servers and the template linters"; \
	. .testenv/env; \
	export ROTATION_TEST_REQUIRE_SERVERS=1; \
	cargo test --workspace --all-targets --no-fail-fast; took "running the cargo tests"; \
	built="$$(cd "$${CARGO_TARGET_DIR:-target}/debug" && pwd)"; \
	export SYNTH_BIN="$$built/synth" BOOTSTRAP="$$built/bootstrap"; \
	bash scripts/lambda-e2e.sh; took "lambda-e2e"; \
	bash scripts/deploy-e2e.sh; took "deploy-e2e"; \
	NO_COLOR=1 bash scripts/demo.sh >.testenv/demo.log 2>&1 \
	  || { tail -n 40 .testenv/demo.log; echo "make demo failed (whole output: .testenv/demo.log)"; exit 1; }; \
	echo "demo: $$(tail -n 1 .testenv/demo.log)"; took "the demo"; \
	[ "$$(cat "$$lint_rc")" = 0 ] || { echo "make test: the template linters failed (their output is above)"; exit 1; }

# The Lambda end-to-end test alone, with the function and synth built as they ship (their own
# features, not the test build's, which adds the test-only ones); starts and stops the servers
# unless they are up. CI runs it after `make test`, whose run of the same checks uses the
# binaries the cargo tests built.
lambda-e2e:
	env -u BOOTSTRAP -u SYNTH_BIN bash scripts/lambda-e2e.sh

# A guided demo (about 20 s once built): the function under the local Lambda emulator rotates a
# PostgreSQL and a MariaDB user, single user and alternating users, against local servers; then
# its preflight report. Everything it starts or creates is stopped and removed; no password shown.
demo:
	@bash scripts/demo.sh

# Servers stay up for iterative work: `. .testenv/env && cargo test ...`
testenv-up:
	scripts/testenv.sh up

testenv-down:
	scripts/testenv.sh down

# Render the default example's stack (examples/postgres-single-user.yaml) to stdout.
# Built without synth's AWS client (the `preflight` feature), so a first render compiles no AWS
# crate.
synth:
	cargo run -q -p synth --no-default-features -- render examples/postgres-single-user.yaml

# Regenerate every example's committed files: the template, its nested templates and its
# settings layer zip (a test fails when one is stale).
examples:
	@set -e; for f in examples/*.yaml; do case "$$f" in *.template.yaml) continue;; esac; \
	  cargo run -q -p synth --no-default-features -- render "$$f" -o "$${f%.yaml}.template.yaml"; done

# Regenerate the config's JSON Schema (synth/config.schema.json) and the reference tables in
# synth/README.md from the doc comments of synth/src/config.rs (a test fails when either is stale).
reference:
	cargo run -q -p synth --no-default-features -- schema > synth/config.schema.json
	cargo run -q -p synth --no-default-features -- schema --reference --into synth/README.md

# A longer run of the generated hostile input: the offline parsers and quoting (5,000 cases
# each), 200 random config changes that must move no untouched rotation schedule, and names
# and passwords through the real servers (60 cases per engine).
fuzz:
	@set -euo pipefail; \
	trap 'rc=$$?; [ $$rc -eq 0 ] || scripts/testenv.sh logs; scripts/testenv.sh down || true; exit $$rc' EXIT; \
	PROPTEST_CASES=5000 cargo test -p rotation-lambda --test offline properties::; \
	PROPTEST_CASES=200 cargo test -p synth --test tests large::no_change_moves_an_untouched_schedule; \
	scripts/testenv.sh up; \
	. .testenv/env; \
	PROPTEST_CASES=60 cargo test -p rotation-lambda --test servers quoting_roundtrip::

# What CI enforces beside the tests: formatting, clippy and the docs, warnings denied.
lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace -q

# Per-engine step timings (median, p95), Secrets Manager calls and logins per step; then the
# release binary as Lambda runs it (a process under a Runtime API on loopback): its size, cold
# start and peak RSS. Starts and stops the test servers like `test`. ROTATION_BENCH_ROTATIONS
# sets the number of measured rotations (default 20); ROTATION_BENCH_PROCESS_ONLY=1 measures
# only the process. Runs `bench-synth` first.
bench: bench-synth
	@set -euo pipefail; \
	trap 'rc=$$?; [ $$rc -eq 0 ] || scripts/testenv.sh logs; scripts/testenv.sh down || true; exit $$rc' EXIT; \
	cargo build --release -p rotation-lambda --bin bootstrap; \
	scripts/testenv.sh up; \
	. .testenv/env; \
	cargo bench -p rotation-lambda --bench rotation

# The synth alone (no servers): render time and output shape (files, resources per file,
# bytes, role policy size) for 10, 1,000 and 10,000 databases.
bench-synth:
	cargo bench -p synth --bench render

# Package the function for Lambda (arm64, provided.al2023) as dist/bootstrap.zip, the path the
# examples name. Cross-compiling needs the aarch64-unknown-linux-gnu Rust target
# (`rustup target add aarch64-unknown-linux-gnu`); ARCH=x86_64 builds for x86_64 instead.
ARCH ?= arm64
lambda: $(VENV)/bin/cargo-lambda
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cargo lambda build --release $(if $(filter x86_64,$(ARCH)),--x86-64,--arm64) \
	  --package rotation-lambda --bin bootstrap --output-format zip
	mkdir -p dist && cp target/lambda/bootstrap/bootstrap.zip dist/bootstrap.zip

# The driver layer: the RDS CA bundle at rds-ca/global-bundle.pem in the zip, which Lambda
# puts at /opt/rds-ca/global-bundle.pem. Give the bundle you downloaded from AWS (and
# checked) as CA_BUNDLE=path; publish a new layer version when AWS rotates its CAs.
layer:
	@test -n "$(CA_BUNDLE)" || { echo "usage: make layer CA_BUNDLE=path/to/global-bundle.pem"; exit 2; }
	rm -rf dist/layer && mkdir -p dist/layer/rds-ca
	cp "$(CA_BUNDLE)" dist/layer/rds-ca/global-bundle.pem
	cd dist/layer && python3 -m zipfile -c ../rds-ca-layer.zip rds-ca

$(VENV)/bin/cargo-lambda: scripts/requirements-lambda.txt
	[ -x $(VENV)/bin/python ] || python3 -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q -r scripts/requirements-lambda.txt
	touch $@

# Stop servers and remove generated state, the venv and build output.
clean:
	scripts/testenv.sh down
	rm -rf $(VENV) dist
	cargo clean

# The rotation protocol over every interleaving (lambda/tests/protocol_model.rs). `make test` runs
# its quick bound; model-check the stated one (two concurrent invocations, two crashes, one
# cancel-and-restart at any moment, one database restart), model-check-long a larger one (also
# calls failing before or after their effect on a warm instance, and a second rotation).
.PHONY: model-check model-check-long
model-check:
	MODEL_CHECK=stated cargo test --release -p rotation-lambda --test protocol_model -- --nocapture

model-check-long:
	MODEL_CHECK=long cargo test --release -p rotation-lambda --test protocol_model -- --nocapture
