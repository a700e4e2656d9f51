# Release gates, included from the Makefile (`include mk/gates.mk`); also usable alone:
#   make -f mk/gates.mk deploy-gate-check ENV=uat
#
# deploy-gate-check ENV=E   blocking E2E gate: every e2e/*.hurl suite against every app host of E
#                           and once through each LB external URL (LB/DB hosts never as app hosts)
# deploy-prod-gated         1) UAT version parity with COMMIT (rolls UAT forward when needed)
#                           2) E2E gate against UAT (the live canary)
#                           3) deployctl rollout --env prod
#                           each step must pass before the next starts; the output names the
#                           gate that stopped the promotion, and prod is untouched unless 3 runs.
#
# Variables: INVENTORY (deploy.toml), UAT_ENV (uat), PROD_ENV (prod), COMMIT (HEAD),
# ARTIFACT (binary to promote; default the inventory's artifact.binary, checked by commit),
# E2E_SUITES (e2e), GATE_REPORTS (target/gate), GATECHECK/DEPLOYCTL (binaries),
# GATE_BUILD=0 to use already built binaries.

INVENTORY    ?= deploy.toml
UAT_ENV      ?= uat
PROD_ENV     ?= prod
COMMIT       ?= $(shell git rev-parse HEAD)
ARTIFACT     ?=
E2E_SUITES   ?= e2e
GATE_REPORTS ?= target/gate
GATECHECK    ?= target/debug/gatecheck
DEPLOYCTL    ?= target/debug/deployctl
GATE_BUILD   ?= 1

GATE_ARTIFACT_ARG := $(if $(ARTIFACT),--artifact $(ARTIFACT),)
GATE_PREREQ       := $(if $(filter 1,$(GATE_BUILD)),gate-binaries,)

.PHONY: gate-binaries deploy-gate-check deploy-prod-gated

gate-binaries:
	cargo build -p gatecheck -p deployctl -p hotel-api

deploy-gate-check: $(GATE_PREREQ)
	@test -n "$(ENV)" || { echo "usage: make deploy-gate-check ENV=<environment of $(INVENTORY)>" >&2; exit 2; }
	@echo "== E2E gate: $(E2E_SUITES)/*.hurl against every app host of env $(ENV) and each LB URL once"
	@$(GATECHECK) --inventory $(INVENTORY) e2e --env $(ENV) --suites $(E2E_SUITES) \
	    --reports $(GATE_REPORTS)/e2e-$(ENV) \
	  || { echo "BLOCKED by the E2E gate on env $(ENV): see $(GATE_REPORTS)/e2e-$(ENV)/junit.xml" >&2; exit 1; }

deploy-prod-gated: $(GATE_PREREQ)
	@echo "== gate 1/3: $(UAT_ENV) serves commit $(COMMIT) (version parity; syncing $(UAT_ENV) when needed)"
	@$(GATECHECK) --inventory $(INVENTORY) parity --env $(UAT_ENV) --commit $(COMMIT) --sync \
	    $(GATE_ARTIFACT_ARG) --deployctl $(DEPLOYCTL) --report $(GATE_REPORTS)/parity-$(UAT_ENV).json \
	  || { echo "STOPPED at gate 1/3 (version parity of $(UAT_ENV)): $(PROD_ENV) untouched" >&2; exit 1; }
	@echo "== gate 2/3: E2E suites against $(UAT_ENV) (live canary)"
	@$(GATECHECK) --inventory $(INVENTORY) e2e --env $(UAT_ENV) --suites $(E2E_SUITES) \
	    --reports $(GATE_REPORTS)/e2e-$(UAT_ENV) \
	  || { echo "STOPPED at gate 2/3 (E2E on $(UAT_ENV)): $(PROD_ENV) untouched; see $(GATE_REPORTS)/e2e-$(UAT_ENV)/junit.xml" >&2; exit 1; }
	@echo "== step 3/3: deployctl rollout --env $(PROD_ENV)"
	@$(DEPLOYCTL) --inventory $(INVENTORY) rollout --env $(PROD_ENV) $(GATE_ARTIFACT_ARG) \
	  || { echo "STOPPED at step 3/3 (rollout of $(PROD_ENV) did not succeed; deployctl's outcome above)" >&2; exit 1; }
	@echo "== promoted commit $(COMMIT) to $(PROD_ENV) through every gate"
