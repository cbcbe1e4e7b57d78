# Entry points. `make up` and `make test` are the two commands a fresh machine needs: each sets up
# what it uses (the Go-built Pulumi toolchain, cached outside the clone, and the .venv) first.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

STACK ?= local
PYTHON ?= python3
VENV := .venv

# The `local` stack's embedded default: a file backend inside the clone (git-ignored) and a
# passphrase secrets provider whose passphrase is public and protects nothing but local state.
# `metadata=skip`: no attributes sidecar beside each state file (toolchain/pulumi_engine.py:
# FILE_BACKEND_QUERY says why).
LOCAL_BACKEND := $(CURDIR)/.pulumi-state
export PULUMI_BACKEND_URL ?= file://$(LOCAL_BACKEND)?metadata=skip
export PULUMI_CONFIG_PASSPHRASE ?= local-only-not-a-secret
export PULUMI_SKIP_UPDATE_CHECK := true
# Nothing may be downloaded here: plugins come from toolchain/pulumi_engine.py only.
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION := true
# The language host runs the program with this interpreter (see toolchain/pulumi_engine.py).
export PULUMI_PYTHON_CMD := $(CURDIR)/$(VENV)/bin/python
# Go's garbage collector for the engine's Go processes: toolchain/pulumi_engine.py, ENGINE_GO_ENV,
# says why, and the tests run the engine with it (a test keeps these equal). Yours win if set.
export GOGC ?= 400
export GOMEMLIMIT ?= 3GiB
# A sub-make of the fleet targets (FLEET_CHILD, below) inherits its parent's PATH.
ifeq ($(FLEET_CHILD),)
export PATH := $(shell $(PYTHON) -m toolchain.pulumi_engine bin-dir):$(CURDIR)/$(VENV)/bin:$(PATH)
endif

# A models stack, <platform>.models-<name> (stacks/<platform>.yaml, docs/fleet-scale.md), runs
# with its platform stack's config file and policy config: every setting has one home.
PLATFORM = $(firstword $(subst .models-, ,$(STACK)))
IS_MODELS_STACK = $(findstring .models-,$(STACK))
# Which models the platform's models stacks hold (components/fleet/stacks.py); without it, one stack.
FLEET_FILE = stacks/$(PLATFORM).yaml
PULUMI = pulumi --non-interactive --stack $(STACK) \
	$(if $(IS_MODELS_STACK),--config-file Pulumi.$(PLATFORM).yaml,)
# Every preview and up runs the policy pack, enforced as the stack's environment says, with the
# policy config commands/fleet_ledger.py names: policies/config/$(PLATFORM).json, or, when the
# platform's models are split across stacks, build/policy-config-$(STACK).json generated from it
# with what the rest of the fleet takes, so the fleet-wide rules see the fleet. A shell variable
# set by an assignment in the recipe line that runs the pack: a failing ledger fails the line
# instead of reading as no fleet.
SET_POLICY_CONFIG = policy_config=$$(python -m commands.fleet_ledger policy-config $(STACK))
POLICIES = --policy-pack policies --policy-pack-config $$policy_config
# The platform stack's models stacks (none for a models stack), and of the platform and those,
# the ones a change since the git commit PREVIEW_SINCE can affect (commands/fleet.py): `make
# preview` previews only those. Shell substitutions, so that a bad stacks file fails the recipe
# instead of reading as no stacks.
MODELS_STACKS = $$(python -m commands.fleet models-stacks $(STACK))
PREVIEW_SINCE ?=
PREVIEWED_STACKS = $$(python -m commands.fleet affected $(STACK) $(PREVIEW_SINCE))
# A sub-make of the fleet targets below (up@, preview@, destroy@): its parent has set up and
# checked the stacks.
FLEET_CHILD ?=

.PHONY: help setup toolchain crds stale-preview policy-config promtool amtool prometheus keda test-tools plane cluster-up cluster-down aws-plugins lint-workflows up \
	up-stack preview-stack destroy-stack preview drift destroy stack models analyze bench bench-fleet test test-setup unit lint env clean

help:
	@echo "make up          set up, then pulumi up of STACK (default: local), with the policy pack"
	@echo "make test        set up, then lint and run every test"
	@echo "make preview     pulumi preview --diff of STACK, with the policy pack, and its summary;"
	@echo "                 saves its update plan to build/plan-STACK.json"
	@echo "make up PLAN=build/plan-STACK.json [PLAN_DIGEST=sha256:...]"
	@echo "                 apply that plan, or refuse and change nothing when the stack would differ;"
	@echo "                 a fleet: PLAN_DIGEST is the fleet digest, and every stack's plan is bound"
	@echo "make drift       refresh, then preview STACK: fails when the cluster drifted from the code"
	@echo "make destroy     pulumi destroy of STACK"
	@echo "make models      train (if missing) and gate every model; MODEL=name for one"
	@echo "make analyze MODEL=name [WINDOW=30m] [PROMETHEUS_URL=...]"
	@echo "                 judge the model's canary by its SLOs: promote or revert it in its"
	@echo "                 model.yaml, verdict in build/analyze-MODEL.md (README, Canary analysis)"
	@echo "make unit        the fast tests only (no engine, no TensorFlow)"
	@echo "make cluster-up  start a local control plane with simulated GPU nodes for the local stack"
	@echo "make cluster-down  stop it (its state is kept for the next cluster-up)"
	@echo "make bench       preview cost as the fleet grows (bench/README.md)"
	@echo "make bench-fleet what users wait for as the fleet grows, per design of its stacks"
	@echo "eval \"\$$(make -s env)\"   use this toolchain from your shell"

toolchain:
	@$(PYTHON) -m toolchain.pulumi_engine setup

# The prometheus-operator and KEDA CRDs the program installs, fetched once into the cache
# (toolchain/operator_crds.py, toolchain/keda_crds.py): the program reads them from there and
# never runs Go.
crds:
	@$(PYTHON) -m toolchain.operator_crds setup >/dev/null
	@$(PYTHON) -m toolchain.keda_crds setup >/dev/null

# The simulated cluster (toolchain/plane): binaries built from Go modules, cached outside the
# clone like the toolchain; its state (certificates, etcd data, logs) under build/cluster.
CLUSTER_DIR := build/cluster

plane:
	@$(PYTHON) -m toolchain.plane build

# Starts the plane and points the local stack at it (a relative path, so Pulumi.local.yaml stays
# portable); its state is kept across cluster-down and cluster-up.
cluster-up: STACK = local
cluster-up: stack
	@$(PYTHON) -m toolchain.plane up --dir $(CLUSTER_DIR)
	@$(PULUMI) config set kubeconfig $(CLUSTER_DIR)/kubeconfig
	@echo "[cluster] the local stack now deploys there: make up"
	@echo "[cluster] to render manifests again: pulumi config rm kubeconfig --stack local"

cluster-down:
	@$(PYTHON) -m toolchain.plane down --dir $(CLUSTER_DIR)

$(VENV)/.runtime: requirements.txt
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	@echo "[venv] installing requirements.txt"
	@$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt requirements-models.txt requirements-models-nodeps.txt
	@echo "[venv] installing requirements-dev.txt and requirements-models.txt"
	@$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
		-r requirements.txt -r requirements-dev.txt -r requirements-models.txt
	@$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps \
		-r requirements-models-nodeps.txt
	@touch $@

setup: toolchain crds $(VENV)/.runtime

# A run killed while a file backend saved a state file can leave that file's attributes sidecar
# (<stack>.json.attrs) empty: gocloud's fileblob (v0.37, in pulumi 3.215) writes the state by
# rename but the sidecar in place, and every CLI command then fails with "failed to load
# checkpoint: EOF" before commands/recover.py could run. The sidecar holds only a content type and
# an MD5, and fileblob reads a file without one, so an empty one is removed, and said, first.
# Without `metadata=skip` (above) it still writes one; with it, one a run left before stays
# harmless unless empty.
FILE_BACKEND = $(firstword $(subst ?, ,$(patsubst file://%,%,$(filter file://%,$(PULUMI_BACKEND_URL)))))

# A mistyped STACK must not create a new, empty stack: only stacks with a file exist. grep reads
# the whole list (no -q): `grep -q` exits at the first match, and with pipefail the writer's broken
# pipe on the rest failed the check (seen in `make destroy` with PYTHONUNBUFFERED set).
stack: $(if $(FLEET_CHILD),,setup)
	@test -f Pulumi.$(PLATFORM).yaml || { echo "STACK=$(STACK): there is no Pulumi.$(PLATFORM).yaml;" \
		"the stacks are: $(patsubst Pulumi.%.yaml,%,$(wildcard Pulumi.*.yaml))" >&2; exit 2; }
	@$(if $(and $(IS_MODELS_STACK),$(if $(FLEET_CHILD),,yes)), \
		python -m commands.fleet models-stacks $(PLATFORM) \
		| grep -xF "$(STACK)" > /dev/null || { echo "STACK=$(STACK): stacks/$(PLATFORM).yaml" \
		"lists no such models stack" >&2; exit 2; },true)
	@$(if $(filter $(LOCAL_BACKEND),$(FILE_BACKEND)),mkdir -p $(LOCAL_BACKEND),true)
	@$(if $(FILE_BACKEND),if test -d $(FILE_BACKEND)/.pulumi; then \
		find $(FILE_BACKEND)/.pulumi -name '*.attrs' -size 0 -print -delete | sed \
		's/^/[recover] removed an empty attributes file a killed run left (state kept): /' >&2; fi,true)
	@pulumi stack select --non-interactive --create $(STACK) \
		$(if $(filter local,$(PLATFORM)),--secrets-provider passphrase,)

# The CLI checks only the types of the settings a policy declares: a misspelt policy or setting,
# or a negative budget, would pass unnoticed (policies/config_check.py).
policy-config: $(VENV)/.runtime
	@$(SET_POLICY_CONFIG); python -m policies.config_check $$policy_config

# Whether STACK deploys to a cluster: dev and prod always do; local only when it has a kubeconfig
# (make cluster-up sets one), otherwise it renders manifests and there is nothing to refresh from.
# A refresh in render mode reads every object as unreachable and would fail (or, with the
# provider's PULUMI_K8S_DELETE_UNREACHABLE, drop them all from state), so it is never run there.
ON_CLUSTER = test "$(PLATFORM)" != local || test -n "$$($(PULUMI) config get kubeconfig 2>/dev/null)"

# On a cluster, up refreshes first: what was changed or deleted out of band is read back into
# state, so the update repairs it instead of reporting "no changes". The refresh is its own engine
# run, not `up --refresh`: within one run, the engine (3.215) hands the stack policies the refreshed
# state of every old resource, those the update is about to delete included, so a model moving
# from its HPA to a KEDA ScaledObject failed serving-completeness ("scaled by
# HorizontalPodAutoscaler and ScaledObject") on the HPA being deleted.
# An interrupted run (kill -9, a crash) is recovered from first: commands/recover.py says what it
# left (plugin processes, the stack's lock, pending operations, orphan manifests) and clears it.
# Every engine run goes through commands/engine_run.py, so no plugin process outlives it.
ENGINE_RUN := python -m commands.engine_run

# Plan binding (commands/plan_binding.py): with PLAN=FILE (the plan `make preview` saved, e.g.
# the PR preview's artifact) and optionally PLAN_DIGEST=sha256:... (the digest its reviewed summary
# printed), up applies that plan or nothing: the file is checked, the stack is previewed again
# (after the refresh, on a cluster) and that fresh plan must be the approved one, resource by
# resource, before `pulumi up --plan FILE` runs; the engine then refuses any step beyond the plan.
# `up --plan` is an experimental flag of the pinned CLI (hidden from its help unless
# PULUMI_EXPERIMENTAL is set; accepted without it). It runs with --skip-preview: the preview just
# before it ran the program and the policy pack (mandatory ones included) over this very plan, and
# up's own preview would run both a third time for nothing it does not check (a fleet-wide deploy
# ran the program and the pack three times a stack).
PLAN ?=
PLAN_DIGEST ?=
PLAN_CHECK = build/plan-check-$(STACK)
# A fleet's plans (a platform stack with a stacks file) are bound as one: the manifest `make
# preview` wrote beside PLAN names each stack's plan and its digest, and PLAN_DIGEST is the fleet
# digest over it (below, `up`). Set for each stack's up-stack, which then checks its plan against
# the manifest's digest for it.
FLEET_MANIFEST ?=
FLEET_PLAN = $(if $(and $(PLAN),$(if $(IS_MODELS_STACK),,$(wildcard $(FLEET_FILE)))),$(dir \
	$(PLAN))plan-$(STACK)-fleet.json)

# The recovery beside the policy config's making and check (one process, commands/fleet_ledger.py):
# neither reads what the other writes, and a fleet's `make up` waits for them in every stack.
up-stack: stack
	@python -m commands.recover --stack $(STACK) & recovering=$$!; status=0; \
	policy_config=$$(python -m commands.fleet_ledger policy-config $(STACK) --check) \
		|| status=$$?; \
	wait $$recovering || status=$${status/#0/1}; \
	if test $$status -ne 0; then exit $$status; fi; \
	$(if $(PLAN),python -m commands.plan_binding verify $(PLAN) \
		$(if $(FLEET_MANIFEST),--fleet $(FLEET_MANIFEST) --stack $(STACK),) \
		$(if $(PLAN_DIGEST),--digest $(PLAN_DIGEST),);,) \
	if $(ON_CLUSTER); then echo "$(PULUMI) refresh --yes --skip-preview"; \
		$(ENGINE_RUN) $(PULUMI) refresh --yes --skip-preview; fi; \
	if test -n "$(PLAN)"; then mkdir -p build; rm -f $(PLAN_CHECK).json; \
		echo "$(PULUMI) preview $(POLICIES) --save-plan $(PLAN_CHECK).json"; \
		$(ENGINE_RUN) $(PULUMI) preview $(POLICIES) --save-plan $(PLAN_CHECK).json \
			> $(PLAN_CHECK).log 2>&1 || { tail -n 40 $(PLAN_CHECK).log >&2; \
			echo "[plan] refused: the stack's preview failed now (above), so it cannot be the" \
				"approved plan; nothing was applied" >&2; exit 1; }; \
		python -m commands.plan_binding compare $(PLAN) $(PLAN_CHECK).json; \
		echo "$(PULUMI) up --yes --skip-preview $(POLICIES) --plan $(PLAN)"; \
		$(ENGINE_RUN) $(PULUMI) up --yes --skip-preview $(POLICIES) --plan $(PLAN); \
	else echo "$(PULUMI) up --yes $(POLICIES)"; \
		$(ENGINE_RUN) $(PULUMI) up --yes $(POLICIES); fi

# One engine run: the diff people read goes to build/preview-<stack>.diff, the engine's event
# stream to build/preview-<stack>.jsonl (`--event-log`, the flag the Automation API uses, shown
# when PULUMI_DEBUG_COMMANDS is set) and its update plan to build/plan-<stack>.json
# (`--save-plan`, whose digest the summary prints: `make up PLAN=...` applies it). From the
# stream: the policy report
# (build/policy-report-<stack>.json) and the markdown summary (build/preview-summary-<stack>.md,
# the diff folded in; printed with the diff's path instead). Exits with the preview's status.
# PREVIEW_FLAGS adds flags to the preview.
# A failed preview reads as failed: the last run's outputs are removed first (stale-preview), the
# summary of a CLI that stopped before the engine ran says so, and the CLI's own error is
# printed on the terminal. The policy config is checked first (policy-config), and a bad one
# fails the same way, its `error:` lines in the summary.
PREVIEW_FLAGS ?=
PREVIEW_OUTPUTS = build/preview-$(STACK).jsonl build/preview-$(STACK).diff \
	build/policy-report-$(STACK).json build/preview-summary-$(STACK).md build/plan-$(STACK).json \
	$(foreach step,recover policy-report preview-summary,\
		build/$(step)-$(STACK).txt build/$(step)-$(STACK).err)
stale-preview:
	@rm -f $(PREVIEW_OUTPUTS)

# Independent steps run side by side (the recovery report beside the policy config, the policy
# report beside the summary): at 100 models a one-model `make preview` waits for each.
preview-stack: stale-preview stack
	@mkdir -p build
	@python -m commands.recover --stack $(STACK) --report-only > build/recover-$(STACK).txt \
		2> build/recover-$(STACK).err & recovering=$$!; \
	status=0; policy_config=$$(python -m commands.fleet_ledger policy-config $(STACK) --check \
		2> build/preview-$(STACK).diff) || status=$$?; \
	wait $$recovering || status=$${status/#0/1}; \
	cat build/recover-$(STACK).txt; cat build/recover-$(STACK).err >&2; \
	if test $$status -eq 0; then PULUMI_DEBUG_COMMANDS=true $(ENGINE_RUN) $(PULUMI) preview \
		--diff $(POLICIES) $(PREVIEW_FLAGS) --event-log build/preview-$(STACK).jsonl \
		--save-plan build/plan-$(STACK).json \
		> build/preview-$(STACK).diff 2>&1 || status=$$?; fi; \
	reporting=; if test -s build/preview-$(STACK).jsonl; then \
		python -m commands.policy_report build/preview-$(STACK).jsonl --stack $(STACK) \
			--out build/policy-report-$(STACK).json \
			--policy-config $${policy_config:-policies/config/$(PLATFORM).json} \
			> build/policy-report-$(STACK).txt 2> build/policy-report-$(STACK).err & reporting=$$!; fi; \
	summarised=0; python -m commands.preview_summary build/preview-$(STACK).jsonl --stack $(STACK) \
		--diff build/preview-$(STACK).diff --out build/preview-summary-$(STACK).md \
		--plan build/plan-$(STACK).json \
		--policy-config $${policy_config:-policies/config/$(PLATFORM).json} \
		--fold-to-path > build/preview-summary-$(STACK).txt 2> build/preview-summary-$(STACK).err \
		|| summarised=$$?; \
	if test -n "$$reporting"; then wait $$reporting || status=$${status/#0/1}; \
		cat build/policy-report-$(STACK).txt; cat build/policy-report-$(STACK).err >&2; fi; \
	echo; cat build/preview-summary-$(STACK).txt; cat build/preview-summary-$(STACK).err >&2; \
	test $$summarised -eq 0 || status=$${status/#0/1}; \
	if test $$status -ne 0; then \
		echo "[preview] pulumi preview of $(STACK) failed (exit $$status); its output:" >&2; \
		tail -n 60 build/preview-$(STACK).diff >&2; fi; \
	exit $$status

# Drift: refresh from the cluster, then fail if the code would change anything. A local stack
# that renders manifests has no cluster to drift from: it says so and succeeds.
drift: stack
	@if $(ON_CLUSTER); then \
		$(MAKE) --no-print-directory preview STACK=$(STACK) \
			PREVIEW_FLAGS="--refresh --expect-no-changes"; \
	else echo "[drift] $(STACK) renders manifests to files (no kubeconfig): there is no cluster to" \
		"refresh from, so nothing can have drifted; make cluster-up or set kubeconfig to check one"; fi

destroy-stack: stack
	@python -m commands.recover --stack $(STACK)
	$(ENGINE_RUN) $(PULUMI) destroy --yes

# A platform stack and its models stacks (stacks/<platform>.yaml; docs/fleet-scale.md): `up`
# first moves the state of each model the file assigns to another stack than holds it (`pulumi
# state move`: no object is touched, so none is deleted and created again), then applies the
# platform first (namespaces, CRDs and the allow-list the models' objects need), then
# its models stacks; `preview` previews the platform and the models stacks (those a change since
# PREVIEW_SINCE can affect, when set), side by side (each reads the platform as applied), and joins their summaries into one PR comment
# (build/preview-summary-STACK-fleet.md); `destroy` removes the models stacks first. Models stacks
# run two at a time (each its own engine run and lock), each through the one-stack target with
# STACK set to it, and all of them are tried: any failure fails the whole, after the others.
# With PLAN, the fleet's manifest beside it (build/plan-STACK-fleet.json, written by the same
# `make preview`) is the source of truth: before any state move or engine run, its digest must be
# PLAN_DIGEST (the fleet digest the fleet comment printed) and every plan it names must be there
# with its digest (commands/plan_binding.py verify-fleet); then the stacks it lists are applied,
# each with its own plan (build/plan-<stack>.json), checked again by up-stack against the
# manifest's digest for it. A stack it does not list (not previewed) is not applied, whatever plan
# file of it lies beside PLAN. A pull request that moves models between stacks is refused with
# PLAN, nothing moved: its plans were made before the state moved (make up without PLAN). A
# single stack (no stacks file), or a models stack named alone, binds its plan to PLAN_DIGEST.
FLEET_MAKE = $(MAKE) --no-print-directory -k -j2 --output-sync=target
up: stack
	@$(if $(IS_MODELS_STACK),$(MAKE) --no-print-directory up-stack STACK=$(STACK),$(if \
		$(FLEET_PLAN),$(BOUND_FLEET_UP),$(FLEET_UP)))

# Every stack of the fleet (no stacks file: the platform alone), the state moves first.
FLEET_UP = python -m commands.fleet move $(STACK) $(if $(PLAN),--refuse,); \
	$(MAKE) --no-print-directory up-stack STACK=$(STACK); \
	stacks="$(MODELS_STACKS)"; test -z "$$stacks" || $(FLEET_MAKE) $$(printf ' up@%s' $$stacks)

# The stacks the fleet's manifest lists, after it and all their plans are checked. Assignments
# of command substitutions, so that a failed check fails the recipe before anything runs.
BOUND_FLEET_UP = models=$$(python -m commands.fleet models-stacks $(STACK)); \
	applied=$$(python -m commands.plan_binding verify-fleet $(FLEET_PLAN) --plan $(PLAN) \
		--stacks $(STACK) $$models $(if $(PLAN_DIGEST),--digest $(PLAN_DIGEST),)); \
	python -m commands.fleet move $(STACK) --refuse; \
	for s in $$applied; do if test "$$s" = "$(STACK)"; then \
		$(MAKE) --no-print-directory up-stack STACK=$(STACK) FLEET_MANIFEST=$(FLEET_PLAN); fi; done; \
	stacks=$$(for s in $$applied; do test "$$s" = "$(STACK)" || echo $$s; done); \
	test -z "$$stacks" || $(FLEET_MAKE) FLEET_MANIFEST=$(FLEET_PLAN) $$(printf ' up@%s' $$stacks)

up@%:
	@$(MAKE) --no-print-directory up-stack STACK=$* FLEET_CHILD=1 \
		$(if $(PLAN),PLAN=$(dir $(PLAN))plan-$*.json,)

preview: stack
	@status=0; if test -n "$(IS_MODELS_STACK)" -o ! -f $(FLEET_FILE); then \
		$(MAKE) --no-print-directory preview-stack STACK=$(STACK) FLEET_CHILD=1 || status=$$?; \
	else \
		stacks="$(PREVIEWED_STACKS)"; \
		rm -f build/preview-$(STACK){,.models-*}.{jsonl,diff} build/plan-$(STACK){,.models-*}.json \
			build/{policy-report,preview-summary}-$(STACK){,.models-*}.{json,md} \
			build/plan-$(STACK)-fleet.json build/preview-summary-$(STACK)-fleet.md; \
		$(FLEET_MAKE) $$(printf ' preview@%s' $$stacks) || status=1; \
		failed=; test $$status -eq 0 || failed=--failed; \
		python -m commands.fleet summary $(STACK) $$stacks $$failed \
			$(if $(PREVIEW_SINCE),--since $(PREVIEW_SINCE),) > /dev/null || status=$${status/#0/1}; \
		echo "[preview] one summary of $(STACK) and its models stacks:" \
			"build/preview-summary-$(STACK)-fleet.md"; fi; \
	exit $$status

preview@%:
	@$(MAKE) --no-print-directory preview-stack STACK=$* FLEET_CHILD=1

destroy: stack
	@stacks="$(if $(IS_MODELS_STACK),,$(MODELS_STACKS))"; test -z "$$stacks" || \
		$(FLEET_MAKE) $$(printf ' destroy@%s' $$stacks)
	@$(MAKE) --no-print-directory destroy-stack STACK=$(STACK)

destroy@%:
	@$(MAKE) --no-print-directory destroy-stack STACK=$* FLEET_CHILD=1

# dev and prod also need the AWS and Docker provider plugins, at the SDK pins of requirements.txt.
# `pulumi plugin install` downloads them from Pulumi's plugin site: CI can reach it, the machines
# that build the toolchain offline cannot (there, dev and prod are tested under mocks only).
aws-plugins: toolchain
	pulumi plugin install resource aws $$(sed -n 's/^pulumi-aws==//p' requirements.txt)
	pulumi plugin install resource docker $$(sed -n 's/^pulumi-docker==//p' requirements.txt)

# Workflow files (.github/workflows), checked by actionlint built from its Go module.
lint-workflows:
	python -m toolchain.actionlint check

# The model gate: the only step that imports TensorFlow. MODEL=iris gates one model.
MODEL ?=
models: $(VENV)/.dev
	python -m commands.gate $(MODEL)

# The canary analysis (commands/analyze.py): Prometheus from PROMETHEUS_URL, else the stack's
# autoscalingPrometheusUrl. Exit 0: verdict written to model.yaml; 3: no verdict (too little
# canary traffic), nothing changed; 1: failed, nothing changed.
WINDOW ?= 30m
analyze: $(VENV)/.runtime
	@test -n "$(MODEL)" || { echo "make analyze: MODEL=<name> is required (a folder under models/)" >&2; exit 2; }
	@python -m commands.analyze $(MODEL) --stack $(STACK) --window $(WINDOW)

# Benchmarks print figures; they are not tests and CI does not run them.
bench: toolchain $(VENV)/.dev
	python bench/preview_cost.py

# Issue #19: `make preview` of a one-model change and a checkpointed fleet-wide `up`, per design,
# against the floor (bench/README.md). BENCH_FLAGS adds options, e.g. --sizes 10,100 --fleet-up 10.
BENCH_FLAGS ?=
bench-fleet: toolchain crds $(VENV)/.dev
	python bench/fleet_cost.py $(BENCH_FLAGS)

lint: $(VENV)/.dev
	ruff check .
	ruff format --check .
	mypy

unit: crds $(VENV)/.dev
	python -m pytest -m "not engine and not gate and not gobuild"

# promtool checks every generated PromQL expression (toolchain/promtool.py; minutes on a cold cache).
promtool:
	@$(PYTHON) -m toolchain.promtool setup >/dev/null

# amtool checks the Alertmanager config and its routes (toolchain/amtool.py; about 4.5 minutes
# on a cold Go cache, 2 shared cores).
amtool:
	@$(PYTHON) -m toolchain.amtool setup >/dev/null

# The Prometheus server and KEDA's operator and metrics API server, which the KEDA test runs beside
# the simulated cluster (toolchain/prometheus.py, toolchain/keda.py). Prometheus shares promtool's
# Go build cache, so it follows it.
prometheus: promtool
	@$(PYTHON) -m toolchain.prometheus setup >/dev/null

keda:
	@$(PYTHON) -m toolchain.keda setup >/dev/null

# What the tests need before they start, built two at a time, the longest first: a Go build keeps
# both cores busy only part of its time (module downloads, go generate, the single-threaded link)
# and mypy uses one core, so on a cold machine two side by side finish sooner than one after the
# other. lint goes beside the plane: its TensorFlow install waits on the network and disk.
TEST_SETUP := toolchain plane crds lint
test-setup: $(TEST_SETUP)

# Tools only some tests use, built while the tests run, one after the other (TEST_TOOLS): the
# simulated-cluster tests, half of the two workers' time, mostly wait on controllers, which leaves
# CPU a build can use. Measured cold at 7ae2dfb, these builds ran beside the plane's for 1,414 s
# of the 1,458 s before any test started, both cores saturated. A test that needs one before it is
# built waits for that build (toolchain/gobuild.py: cached_binary, one build per binary at a time),
# and the files using them run last in their group (tests/conftest.py: LATE_TOOL_HELPERS); their
# log is build/test-tools.log, and a failed build fails `make test` after the tests.
TEST_TOOLS := promtool prometheus keda amtool
test-tools: $(TEST_TOOLS)

# Two pytest workers, a test file at a time each (its module fixtures stay on one worker); the
# simulated-cluster files run first, one after the other on one worker, while the other runs
# the rest (tests/conftest.py). `python -m pytest` alone runs everything in one process.
PYTEST_WORKERS ?= 2
TOOLS_LOG := build/test-tools.log
test:
	@$(MAKE) --no-print-directory -j2 test-setup
	@mkdir -p build
	@echo "[test] building $(TEST_TOOLS) in the background while the tests run: $(TOOLS_LOG)"
	@nice -n 5 $(MAKE) --no-print-directory test-tools > $(TOOLS_LOG) 2>&1 & tools=$$!; \
	status=0; python -m pytest -n $(PYTEST_WORKERS) --no-loadscope-reorder || status=$$?; \
	if ! wait $$tools; then echo "[test] building $(TEST_TOOLS) failed:" >&2; \
		tail -n 30 $(TOOLS_LOG) >&2; status=$${status/#0/1}; fi; \
	exit $$status

env:
	@echo "export PATH='$(PATH)'"
	@echo "export PULUMI_BACKEND_URL='$(PULUMI_BACKEND_URL)'"
	@echo "export PULUMI_CONFIG_PASSPHRASE='$(PULUMI_CONFIG_PASSPHRASE)'"
	@echo "export PULUMI_PYTHON_CMD='$(PULUMI_PYTHON_CMD)'"
	@echo "export PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true"

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
