# Zero-downtime runtime and deployment toolkit.
#   make demo    live zero-downtime demo on this machine (no remote hosts)
#   make test    install what the tests need, then lint and run the whole suite
#   make bench   restart, crash, rollout and canary-judge benchmarks (figures + final JSON line each)
# Release gates (deploy-gate-check, deploy-prod-gated) come from mk/gates.mk.

CARGO ?= cargo

.PHONY: demo test deps lint check-platforms nextest bench bench-restart bench-crash bench-rollout bench-canary gate

demo:
	$(CARGO) xtask demo

deps:
	scripts/install-deps.sh

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) xtask gate --only file-size
	git ls-files -z '*.sh' | xargs -0 shellcheck

# The runtime must compile for the platforms where it runs in worker mode.
check-platforms:
	$(CARGO) clippy -p runtime --target x86_64-pc-windows-gnu -- -D warnings
	$(CARGO) clippy -p runtime --target x86_64-apple-darwin -- -D warnings

nextest:
	$(CARGO) nextest run --workspace --no-fail-fast

test: deps lint check-platforms nextest

bench: bench-restart bench-crash bench-rollout bench-canary

bench-restart:
	$(CARGO) xtask bench restart

bench-crash:
	$(CARGO) xtask bench crash

bench-rollout:
	$(CARGO) xtask bench rollout

bench-canary:
	$(CARGO) xtask bench canary

gate:
	$(CARGO) xtask gate

include mk/gates.mk
