"""dev and prod on AWS: the VPC (`network`), EKS (`eks`), its node groups (`node_groups`, GPU
groups labelled and tainted from components.facts.gpu), IAM (`iam`), ECR (`registry`) and the
NVIDIA device plugin (`device_plugin`), composed behind one AWS provider by `cluster.AwsCluster`.

May import components.facts and components.settings.
"""
