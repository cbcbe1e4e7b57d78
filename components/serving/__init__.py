"""One model's serving stack: pure builders of its Kubernetes objects as plain dicts (`builders`:
Deployments per track, autoscalers, disruption budget, Service, NetworkPolicy, TF Serving config)
and the ModelService component that registers them and, when asked, builds the model image
(`component`, `model-image.Dockerfile`).

May import components.facts, settings, catalog and target.
"""
