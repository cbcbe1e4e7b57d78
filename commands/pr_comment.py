"""The hidden first line of a PR comment: the workflow finds its own comment by it and edits it in
place (.github/scripts/upsert-comment.js), and the deploy reads the approved digest from the
comment it starts (.github/scripts/approved-plan.sh). Its own module, so that commands.fleet,
which runs on every `make preview`, need not import the whole preview summary to write it."""

from __future__ import annotations


def marker(stack: str) -> str:
    """Hidden first line of the comment: the workflow finds its own comment by it and edits it."""
    return f"<!-- gpu-model-platform preview: {stack} -->"
