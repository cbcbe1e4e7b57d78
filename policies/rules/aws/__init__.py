"""Rules that guard the AWS resources of dev and prod: ECR repositories, the EKS cluster, and
protection of what a stray destroy must not delete."""
