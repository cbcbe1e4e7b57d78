"""Which stack holds which model: the platform stack and its models stacks (issue #19)."""
