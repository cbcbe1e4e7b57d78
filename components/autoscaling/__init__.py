"""Autoscaling through KEDA, for models whose signal is a serving metric (autoscaling.metric
`requests` or `gpu` in model.yaml): a ScaledObject per track with a Prometheus trigger, KEDA's
CRDs, and the KEDA chart. Models on `cpu` keep the HorizontalPodAutoscaler that
components.serving registers; a track has exactly one of the two, and KEDA owns the HPA it
creates, so one thing writes each Deployment's `replicas`.

`scaled_object` builds plain dicts (tested without the Pulumi runtime), `crds` reads the pinned
KEDA CRDs from the cache, `values` the chart's values, `component` (KedaAutoscaling) registers
them. It reads the series names of components.monitoring (what Prometheus scrapes), so it is the
layer above it (tests/unit/test_architecture.py); only the program and the tests import it.
"""
