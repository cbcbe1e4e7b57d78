"""Shared domain facts: GPU facts, label keys, every version pin, validated domain types, where
the cache is.

The program, the policy pack, the product commands and the build tools all read them, so they
import nothing but the standard library and pydantic (for the validated types): never Pulumi,
never another package of this project. The build tools run them under a bare `python3`.
"""
