"""The deploy program's library: one subpackage per concern, imported by `__main__.py`.

Layers, each importing only those before it (tests/unit/test_architecture.py enforces it):
facts → settings, catalog → aws → target → serving → monitoring. Nothing here imports the
product commands (`commands/`), the build and test infrastructure (`toolchain/`), `tests/` or
`bench/`; the program only reads files, and whatever must be fetched or built was put in the cache
by `make setup` before it runs.
"""
