"""Build and test infrastructure: everything the project builds or fetches for itself, into the
cache (components.facts.cache), because release binaries cannot be downloaded here: the Pulumi
CLI, language host and Kubernetes provider (`pulumi_engine`), the prometheus-operator CRDs
(`operator_crds`), promtool and actionlint, and the simulated control plane (`plane`), all from Go
modules through `gobuild`.

It runs under a bare `python3`, before any virtualenv exists: it imports the standard library,
itself and components.facts only. The deploy program never imports it; it reads what it left in
the cache.
"""
