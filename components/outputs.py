"""Names of the stack outputs, shared by the program and the tests that read them."""

CLUSTER_MODE = "clusterMode"
RENDER_DIRECTORY = "renderDirectory"
NAMESPACES = "namespaces"
MODELS = "models"
CLUSTER_NAME = "clusterName"
REPOSITORIES = "repositories"
GPU_NODE_GROUPS = "gpuNodeGroups"
