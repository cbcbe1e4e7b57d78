"""Which Kubernetes cluster a stack deploys to, and the one provider everything goes through:
`local` renders manifests or uses a kubeconfig's cluster (`local`), dev and prod their EKS cluster
(components.aws), chosen by `cluster.build_cluster`; and the platform's namespaces under
restricted Pod Security (`namespaces`).

May import components.facts, settings and aws.
"""
