"""The simulated cluster: a real Kubernetes control plane on loopback, with KWOK-simulated CPU and
GPU nodes.

etcd, kube-apiserver, kube-controller-manager and kube-scheduler are the real programs, built from
their Go modules at the versions pinned in components/facts/versions.py into the cache (build.py);
KWOK simulates the nodes and makes the pods the scheduler binds to them Running and Ready
(nodes.py, kwok-stages.yaml), so no container runtime is needed; metrics-server serves the
resource-metrics API from KWOK's simulated usage. kwokctl, KWOK's own tool built from the same
module, runs them all with our binaries (processes.py) and keeps the cluster's state under the
layout's root. Everything listens on 127.0.0.1 only.
`python3 -m toolchain.plane build|up|down|status|kubeconfig` drives it (__main__.py).

It runs under a bare `python3` before any virtualenv exists, so it imports only the standard
library, toolchain.* (toolchain.gobuild builds its Go programs) and components.facts.*.
"""
