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
LOCAL_BACKEND := $(CURDIR)/.pulumi-state
export PULUMI_BACKEND_URL ?= file://$(LOCAL_BACKEND)
export PULUMI_CONFIG_PASSPHRASE ?= local-only-not-a-secret
export PULUMI_SKIP_UPDATE_CHECK := true
# Nothing may be downloaded here: plugins come from tools/toolchain.py only.
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION := true
# The language host runs the program with this interpreter (see tools/toolchain.py).
export PULUMI_PYTHON_CMD := $(CURDIR)/$(VENV)/bin/python
export PATH := $(shell $(PYTHON) tools/toolchain.py bin-dir):$(CURDIR)/$(VENV)/bin:$(PATH)

PULUMI := pulumi --non-interactive --stack $(STACK)
# Every preview and up runs the policy pack, enforced as the stack's environment says.
POLICIES := --policy-pack policies --policy-pack-config policies/config/$(STACK).json

.PHONY: help setup toolchain promtool plane cluster-up cluster-down aws-plugins lint-workflows up \
	preview drift destroy stack models bench test unit lint env clean

help:
	@echo "make up          set up, then pulumi up of STACK (default: local), with the policy pack"
	@echo "make test        set up, then lint and run every test"
	@echo "make preview     pulumi preview --diff of STACK, with the policy pack, and its summary"
	@echo "make drift       refresh, then preview STACK: fails when the cloud drifted from the code"
	@echo "make destroy     pulumi destroy of STACK"
	@echo "make models      train (if missing) and gate every model; MODEL=name for one"
	@echo "make unit        the fast tests only (no engine, no TensorFlow)"
	@echo "make cluster-up  start a local control plane with simulated GPU nodes for the local stack"
	@echo "make cluster-down  stop it (its state is kept for the next cluster-up)"
	@echo "make bench       preview cost as the fleet grows (bench/README.md)"
	@echo "eval \"\$$(make -s env)\"   use this toolchain from your shell"

toolchain:
	@$(PYTHON) tools/toolchain.py setup

# The simulated cluster (tools/cluster.py): binaries built from Go modules, cached outside the
# clone like the toolchain; its state (certificates, etcd data, logs) under build/cluster.
CLUSTER_DIR := build/cluster

plane:
	@$(PYTHON) tools/cluster.py build

# Starts the plane and points the local stack at it (a relative path, so Pulumi.local.yaml stays
# portable); its state is kept across cluster-down and cluster-up.
cluster-up: STACK = local
cluster-up: stack
	@$(PYTHON) tools/cluster.py up --dir $(CLUSTER_DIR)
	@$(PULUMI) config set kubeconfig $(CLUSTER_DIR)/kubeconfig
	@echo "[cluster] the local stack now deploys there: make up"
	@echo "[cluster] to render manifests again: pulumi config rm kubeconfig --stack local"

cluster-down:
	@$(PYTHON) tools/cluster.py down --dir $(CLUSTER_DIR)

$(VENV)/.runtime: requirements.txt
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	@echo "[venv] installing requirements.txt"
	@$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt requirements-models.txt
	@echo "[venv] installing requirements-dev.txt and requirements-models.txt"
	@$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
		-r requirements.txt -r requirements-dev.txt -r requirements-models.txt
	@touch $@

setup: toolchain $(VENV)/.runtime

stack: setup
	@$(if $(filter file://$(LOCAL_BACKEND),$(PULUMI_BACKEND_URL)),mkdir -p $(LOCAL_BACKEND),true)
	@pulumi stack select --non-interactive --create $(STACK) \
		$(if $(filter local,$(STACK)),--secrets-provider passphrase,)

up: stack
	$(PULUMI) up --yes $(POLICIES)

# One engine run: the diff people read goes to build/preview-<stack>.diff and the engine's event
# stream to build/preview-<stack>.jsonl (`--event-log`, the flag the Automation API uses, shown
# when PULUMI_DEBUG_COMMANDS is set). From the stream: the policy report
# (build/policy-report-<stack>.json) and the markdown summary (build/preview-summary-<stack>.md,
# the diff folded in; printed with the diff's path instead). Exits with the preview's status.
# PREVIEW_FLAGS adds flags to the preview.
PREVIEW_FLAGS ?=
preview: stack
	@mkdir -p build
	@status=0; PULUMI_DEBUG_COMMANDS=true $(PULUMI) preview --diff $(POLICIES) $(PREVIEW_FLAGS) \
		--event-log build/preview-$(STACK).jsonl > build/preview-$(STACK).diff 2>&1 || status=$$?; \
	python -m tools.policy_report build/preview-$(STACK).jsonl --stack $(STACK) \
		--out build/policy-report-$(STACK).json || true; \
	echo; python -m tools.preview_summary build/preview-$(STACK).jsonl --stack $(STACK) \
		--diff build/preview-$(STACK).diff --out build/preview-summary-$(STACK).md --fold-to-path; \
	exit $$status

# Drift: refresh from the cloud, then fail if the code would change anything.
drift: PREVIEW_FLAGS = --refresh --expect-no-changes
drift: preview

destroy: stack
	$(PULUMI) destroy --yes

# dev and prod also need the AWS and Docker provider plugins, at the SDK pins of requirements.txt.
# `pulumi plugin install` downloads them from Pulumi's plugin site: CI can reach it, the machines
# that build the toolchain offline cannot (there, dev and prod are tested under mocks only).
aws-plugins: toolchain
	pulumi plugin install resource aws $$(sed -n 's/^pulumi-aws==//p' requirements.txt)
	pulumi plugin install resource docker $$(sed -n 's/^pulumi-docker==//p' requirements.txt)

# Workflow files (.github/workflows), checked by actionlint built from its Go module.
lint-workflows:
	python -m tools.actionlint check

# The model gate: the only step that imports TensorFlow. MODEL=iris gates one model.
MODEL ?=
models: $(VENV)/.dev
	python -m tools.gate $(MODEL)

# Benchmarks print figures; they are not tests and CI does not run them.
bench: toolchain $(VENV)/.dev
	python bench/preview_cost.py

lint: $(VENV)/.dev
	ruff check .
	ruff format --check .
	mypy

unit: $(VENV)/.dev
	python -m pytest -m "not engine and not gate and not gobuild"

# promtool checks every generated PromQL expression (tools/promtool.py; minutes on a cold cache).
promtool:
	@$(PYTHON) tools/promtool.py setup >/dev/null

test: toolchain promtool plane $(VENV)/.dev lint
	python -m pytest

env:
	@echo "export PATH='$(PATH)'"
	@echo "export PULUMI_BACKEND_URL='$(PULUMI_BACKEND_URL)'"
	@echo "export PULUMI_CONFIG_PASSPHRASE='$(PULUMI_CONFIG_PASSPHRASE)'"
	@echo "export PULUMI_PYTHON_CMD='$(PULUMI_PYTHON_CMD)'"
	@echo "export PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true"

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
