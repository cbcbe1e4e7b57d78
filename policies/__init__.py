"""The gpu-model-platform CrossGuard policy pack (run with `--policy-pack policies`)."""
