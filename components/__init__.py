"""The platform's building blocks: one ComponentResource per concept, and the pure functions that
build their specs."""
