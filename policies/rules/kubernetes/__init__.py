"""Rules that guard Kubernetes objects: pods (resources, GPUs, placement, security, probes,
images), disruption budgets, autoscalers, topology spread, exposure, each model's completeness.
"""
