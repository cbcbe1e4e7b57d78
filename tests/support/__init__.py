"""Helpers shared by the tests and the benchmarks, and the only test code anything may import:
Pulumi mocks and stack config (`mocks`), the real engine on a private copy of the project
(`engine`), model specs and folders (`specs`), monitoring checks against the CRDs, promtool and
Grafana's schema (`monitoring_checks`), a rule at a stack's policy config (`policy_config`)."""
