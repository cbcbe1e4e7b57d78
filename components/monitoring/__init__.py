"""The platform's monitoring: the charts (kube-prometheus-stack, DCGM exporter), the
prometheus-operator CRDs, and per model its scrape config, SLO alerts and Grafana dashboard.

Pure builders return plain dicts, tested without the Pulumi runtime: `values` (chart values),
and per model `scrape` (ServiceMonitor, series names), `queries` (PromQL), `alerts`
(PrometheusRule) and `dashboard` (dashboard JSON and ConfigMap). `crds` reads the pinned operator
CRDs from the cache. Registration is apart: `component` (MonitoringStack) and `model_component`
(ModelMonitoring), with `generated_password` for Grafana's admin password.

It may import components.facts, settings, catalog and serving, and components.aws for the
device plugin's node-agent namespace (values). Only components.autoscaling (which reads its series
names), the program and the tests import it (tests/unit/test_architecture.py).
"""
