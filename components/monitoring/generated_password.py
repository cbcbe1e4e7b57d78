"""A password generated once and kept in the stack's state as a secret, like pulumi-random's
RandomPassword, without its provider plugin (which cannot be installed offline here).

A Pulumi dynamic provider runs in the program's own Python: `create` draws the password with
`secrets`, the engine stores it (encrypted) in state, and later runs see the same inputs, so
there is no diff and the password stays until its `length` changes.
"""

from __future__ import annotations

import secrets
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider

ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


class PasswordProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        length = int(props["length"])
        value = "".join(secrets.choice(ALPHABET) for _ in range(length))
        return CreateResult(id_=secrets.token_hex(8), outs={"length": length, "result": value})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = int(olds["length"]) != int(news["length"])
        return DiffResult(changes=changed, replaces=["length"] if changed else [])


class GeneratedPassword(pulumi.dynamic.Resource):
    result: pulumi.Output[str]

    def __init__(self, name: str, length: int, opts: pulumi.ResourceOptions | None = None) -> None:
        secret = pulumi.ResourceOptions(additional_secret_outputs=["result"])
        super().__init__(
            PasswordProvider(),
            name,
            {"length": length, "result": None},
            pulumi.ResourceOptions.merge(opts, secret),
        )
