"""dev and prod on AWS: the VPC (`network`), EKS (`eks`), its node groups (`node_groups`, GPU
groups labelled and tainted from components.facts.gpu), IAM (`iam`) and ECR (`registry`), composed
behind one AWS provider by `cluster.AwsCluster`; and the NVIDIA device plugin (`device_plugin`),
created beside it once the node agents' namespace exists (components.target.cluster).

May import components.facts and components.settings.
"""
