"""The deploy programs: what one stack registers. `__main__.py` picks one by the stack's role
(components/fleet/stacks.py): the platform stack of an environment, or one of its models stacks."""
