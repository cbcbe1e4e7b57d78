"""A minimal client of the plane's API server, standard library only (no Kubernetes client)."""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from toolchain.gobuild import ToolchainError
from toolchain.plane.layout import CLUSTER_NAME, Layout


class ApiError(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class Api:
    """A minimal client of the plane's API server: JSON in and out, the admin client certificate
    kwokctl made (its address and certificates are kwokctl's kubeconfig's)."""

    def __init__(self, layout: Layout) -> None:
        self.base = layout.api_server()
        self.context = ssl.create_default_context(cafile=str(layout.pki / "ca.crt"))
        self.context.load_cert_chain(layout.pki / "admin.crt", layout.pki / "admin.key")

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float = 10,
    ) -> Any:
        data = None
        if body is not None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base + path,
            data=data,
            method=method,
            headers={"Content-Type": content_type, "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=timeout) as reply:
                text = reply.read().decode()
        except urllib.error.HTTPError as error:
            raise ApiError(error.code, error.read().decode()[:2000]) from None
        return json.loads(text) if text.startswith(("{", "[")) else text

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def watch(self, path: str, resource_version: str, seconds: int = 1) -> Iterator[Any]:
        """The events of a watch from `resource_version` that the server ends after `seconds`."""
        query = f"watch=1&resourceVersion={resource_version}&timeoutSeconds={seconds}"
        request = urllib.request.Request(
            f"{self.base}{path}{'&' if '?' in path else '?'}{query}",
            headers={"Accept": "application/json"},
        )
        with urllib.request.urlopen(request, context=self.context, timeout=seconds + 10) as reply:
            for line in reply:
                if line.strip():
                    yield json.loads(line)

    def apply(self, path: str, body: str | dict[str, Any]) -> Any:
        """Server-side apply of one object (YAML text or a dict) at its own path."""
        return self.request(
            "PATCH",
            f"{path}?fieldManager={CLUSTER_NAME}&force=true",
            body if isinstance(body, str) else json.dumps(body),
            content_type="application/apply-patch+yaml",
        )


def wait_until(
    what: str, check: Callable[[], bool], timeout: float, log: Path | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (OSError, ApiError, ValueError):
            pass
        time.sleep(0.25)
    tail = ""
    if log is not None and log.exists():
        tail = "\n  last lines of " + str(log) + ":\n" + log.read_text()[-3000:]
    raise ToolchainError(f"{what} not ready within {timeout:.0f}s{tail}")
