"""The Pod Security Standards, baseline and restricted, control by control.

Each control is the published one (kubernetes.io/docs/concepts/security/pod-security-standards,
Kubernetes 1.33): the fields it restricts and the values it allows. Every container list counts:
init, regular and ephemeral containers alike, as the admission controller counts them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import Severity

from policies.kube import all_containers, dig, number, object_name, pod_spec
from policies.support import Rule

PROFILES = ("baseline", "restricted")
# Capabilities baseline lets a container add; restricted allows adding NET_BIND_SERVICE only.
BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
RESTRICTED_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
SELINUX_TYPES = frozenset(
    {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
)
RESTRICTED_VOLUMES = (
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
)
# Volume entry keys that are not its source.
VOLUME_FIELDS = frozenset({"name"})
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
APPARMOR_TYPES = ("RuntimeDefault", "Localhost")
SECCOMP_TYPES = ("RuntimeDefault", "Localhost")


@dataclass(frozen=True)
class Pod:
    """What a control reads: the pod spec, its template's annotations, and names for messages."""

    name: str
    spec: Mapping[str, Any]
    annotations: Mapping[str, Any]

    @property
    def context(self) -> Mapping[str, Any]:
        return self.spec.get("securityContext") or {}

    @property
    def windows(self) -> bool:
        # Restricted exempts Windows pods from its Linux-only controls.
        return bool(dig(self.spec, "os", "name") == "windows")

    def containers(self) -> Iterator[tuple[str, Mapping[str, Any], Mapping[str, Any]]]:
        """(where, container, its securityContext) of every init, regular, ephemeral container."""
        for container in all_containers(self.spec):
            yield (
                f"{self.name}/{container.get('name')}",
                container,
                container.get("securityContext") or {},
            )

    def effective(self, context: Mapping[str, Any], *path: str) -> Any:
        """A setting as the kubelet applies it: the container's, else the pod's."""
        own = dig(context, *path)
        return own if own is not None else dig(self.context, *path)


Check = Callable[[Pod], list[str]]


@dataclass(frozen=True)
class Control:
    id: str
    profile: str
    title: str
    fields: str
    """The restricted fields and allowed values, as the standard states them."""
    check: Check


def _host_process(pod: Pod) -> list[str]:
    problems = []
    if dig(pod.context, "windowsOptions", "hostProcess") is True:
        problems.append(f"{pod.name}: runs Windows HostProcess containers")
    problems += [
        f"{where}: is a Windows HostProcess container"
        for where, _, context in pod.containers()
        if dig(context, "windowsOptions", "hostProcess") is True
    ]
    return problems


def _host_namespaces(pod: Pod) -> list[str]:
    return [
        f"{pod.name}: uses the host's {field[4:].lower()} namespace"
        for field in ("hostNetwork", "hostPID", "hostIPC")
        if pod.spec.get(field) is True
    ]


def _privileged(pod: Pod) -> list[str]:
    return [f"{w}: is privileged" for w, _, c in pod.containers() if c.get("privileged") is True]


def _added(context: Mapping[str, Any]) -> list[str]:
    return [str(c) for c in dig(context, "capabilities", "add") or []]


def _baseline_capabilities(pod: Pod) -> list[str]:
    return [
        f"{where}: adds capability {capability}, which the baseline profile forbids"
        for where, _, context in pod.containers()
        for capability in _added(context)
        if capability not in BASELINE_CAPABILITIES
    ]


def _restricted_capabilities(pod: Pod) -> list[str]:
    if pod.windows:
        return []
    problems = []
    for where, _, context in pod.containers():
        if "ALL" not in (dig(context, "capabilities", "drop") or []):
            problems.append(f"{where}: does not drop ALL capabilities")
        problems += [
            f"{where}: adds capability {capability}; only NET_BIND_SERVICE may be added"
            for capability in _added(context)
            # Those outside baseline are reported by the baseline control already.
            if capability in BASELINE_CAPABILITIES - RESTRICTED_CAPABILITIES
        ]
    return problems


def _host_path(pod: Pod) -> list[str]:
    return [
        f"{pod.name}: mounts hostPath volume {volume.get('name')}"
        for volume in pod.spec.get("volumes") or []
        if "hostPath" in volume
    ]


def _host_ports(pod: Pod) -> list[str]:
    return [
        f"{where}: binds host port {number(port.get('hostPort')):g}"
        for where, container, _ in pod.containers()
        for port in container.get("ports") or []
        if number(port.get("hostPort"))
    ]


def _apparmor(pod: Pod) -> list[str]:
    problems = []
    kind = dig(pod.context, "appArmorProfile", "type")
    if kind is not None and kind not in APPARMOR_TYPES:
        problems.append(f"{pod.name}: AppArmor profile {kind}; only RuntimeDefault or Localhost")
    for where, _, context in pod.containers():
        kind = dig(context, "appArmorProfile", "type")
        if kind is not None and kind not in APPARMOR_TYPES:
            problems.append(f"{where}: AppArmor profile {kind}; only RuntimeDefault or Localhost")
    for key, value in pod.annotations.items():
        allowed = value == "runtime/default" or str(value).startswith("localhost/")
        if str(key).startswith(APPARMOR_ANNOTATION) and not allowed:
            container = str(key)[len(APPARMOR_ANNOTATION) :]
            problems.append(f"{pod.name}/{container}: AppArmor annotation {value}")
    return problems


def _selinux_problems(where: str, options: Mapping[str, Any]) -> list[str]:
    problems = []
    kind = options.get("type")
    if kind is not None and kind not in SELINUX_TYPES:
        problems.append(f"{where}: SELinux type {kind} is not a container type")
    problems += [
        f"{where}: sets SELinux {field} {options[field]}"
        for field in ("user", "role")
        if options.get(field)
    ]
    return problems


def _selinux(pod: Pod) -> list[str]:
    problems = _selinux_problems(pod.name, pod.context.get("seLinuxOptions") or {})
    for where, _, context in pod.containers():
        problems += _selinux_problems(where, context.get("seLinuxOptions") or {})
    return problems


def _proc_mount(pod: Pod) -> list[str]:
    return [
        f"{where}: procMount {context['procMount']}; only Default is allowed"
        for where, _, context in pod.containers()
        if context.get("procMount") not in (None, "Default")
    ]


def _baseline_seccomp(pod: Pod) -> list[str]:
    problems = []
    if dig(pod.context, "seccompProfile", "type") == "Unconfined":
        problems.append(f"{pod.name}: seccomp profile is Unconfined")
    problems += [
        f"{where}: seccomp profile is Unconfined"
        for where, _, context in pod.containers()
        if dig(context, "seccompProfile", "type") == "Unconfined"
    ]
    return problems


def _restricted_seccomp(pod: Pod) -> list[str]:
    if pod.windows:
        return []
    return [
        f"{where}: has no RuntimeDefault seccomp profile"
        for where, _, context in pod.containers()
        # Unconfined is the baseline control's finding; here: no profile at all.
        if pod.effective(context, "seccompProfile", "type") not in (*SECCOMP_TYPES, "Unconfined")
    ]


def _sysctls(pod: Pod) -> list[str]:
    return [
        f"{pod.name}: sets unsafe sysctl {sysctl.get('name')}"
        for sysctl in pod.context.get("sysctls") or []
        if sysctl.get("name") not in SAFE_SYSCTLS
    ]


def _volume_types(pod: Pod) -> list[str]:
    problems = []
    for volume in pod.spec.get("volumes") or []:
        sources = sorted(set(volume) - VOLUME_FIELDS)
        for source in sources:
            if source not in RESTRICTED_VOLUMES and source != "hostPath":
                problems.append(
                    f"{pod.name}: volume {volume.get('name')} is of type {source}, which "
                    "restricted does not allow"
                )
    return problems


def _privilege_escalation(pod: Pod) -> list[str]:
    if pod.windows:
        return []
    return [
        f"{where}: allows privilege escalation"
        for where, _, context in pod.containers()
        if context.get("allowPrivilegeEscalation") is not False
    ]


def _non_root(pod: Pod) -> list[str]:
    return [
        f"{where}: may run as root (runAsNonRoot is not true)"
        for where, _, context in pod.containers()
        if pod.effective(context, "runAsNonRoot") is not True
    ]


def _non_root_user(pod: Pod) -> list[str]:
    problems = []
    if number(pod.context.get("runAsUser")) == 0:
        problems.append(f"{pod.name}: runs as UID 0")
    problems += [
        f"{where}: runs as UID 0"
        for where, _, context in pod.containers()
        if number(context.get("runAsUser")) == 0
    ]
    return problems


CONTROLS: tuple[Control, ...] = (
    Control(
        "host-process",
        "baseline",
        "HostProcess",
        "`windowsOptions.hostProcess` of the pod and every container: unset or false",
        _host_process,
    ),
    Control(
        "host-namespaces",
        "baseline",
        "Host Namespaces",
        "`hostNetwork`, `hostPID`, `hostIPC`: unset or false",
        _host_namespaces,
    ),
    Control(
        "privileged",
        "baseline",
        "Privileged Containers",
        "`securityContext.privileged` of every container: unset or false",
        _privileged,
    ),
    Control(
        "baseline-capabilities",
        "baseline",
        "Capabilities",
        "`capabilities.add`: only " + ", ".join(sorted(BASELINE_CAPABILITIES)),
        _baseline_capabilities,
    ),
    Control(
        "host-path",
        "baseline",
        "HostPath Volumes",
        "`volumes[*].hostPath`: unset",
        _host_path,
    ),
    Control(
        "host-ports",
        "baseline",
        "Host Ports",
        "`ports[*].hostPort` of every container: unset or 0",
        _host_ports,
    ),
    Control(
        "apparmor",
        "baseline",
        "AppArmor",
        "`appArmorProfile.type` of the pod and every container: unset, RuntimeDefault or "
        "Localhost; the `container.apparmor.security.beta.kubernetes.io/*` annotations: "
        "`runtime/default` or `localhost/*`",
        _apparmor,
    ),
    Control(
        "selinux",
        "baseline",
        "SELinux",
        "`seLinuxOptions.type`: unset, " + ", ".join(sorted(SELINUX_TYPES - {""})) + "; "
        "`seLinuxOptions.user` and `.role`: unset",
        _selinux,
    ),
    Control(
        "proc-mount",
        "baseline",
        "/proc Mount Type",
        "`securityContext.procMount` of every container: unset or Default",
        _proc_mount,
    ),
    Control(
        "baseline-seccomp",
        "baseline",
        "Seccomp",
        "`seccompProfile.type` of the pod and every container: not Unconfined",
        _baseline_seccomp,
    ),
    Control(
        "sysctls",
        "baseline",
        "Sysctls",
        "`securityContext.sysctls[*].name`: only " + ", ".join(sorted(SAFE_SYSCTLS)),
        _sysctls,
    ),
    Control(
        "volume-types",
        "restricted",
        "Volume Types",
        "`volumes[*]`: only " + ", ".join(RESTRICTED_VOLUMES),
        _volume_types,
    ),
    Control(
        "privilege-escalation",
        "restricted",
        "Privilege Escalation",
        "`allowPrivilegeEscalation` of every container: false (not on Windows pods)",
        _privilege_escalation,
    ),
    Control(
        "running-as-non-root",
        "restricted",
        "Running as Non-root",
        "`runAsNonRoot`: true for every container, set on it or on the pod; never false",
        _non_root,
    ),
    Control(
        "running-as-non-root-user",
        "restricted",
        "Running as Non-root user",
        "`runAsUser` of the pod and every container: unset or not 0",
        _non_root_user,
    ),
    Control(
        "restricted-seccomp",
        "restricted",
        "Seccomp",
        "`seccompProfile.type`: RuntimeDefault or Localhost for every container, set on it or "
        "on the pod (not on Windows pods)",
        _restricted_seccomp,
    ),
    Control(
        "restricted-capabilities",
        "restricted",
        "Capabilities",
        "`capabilities.drop` of every container includes ALL; `capabilities.add`: only "
        "NET_BIND_SERVICE (not on Windows pods)",
        _restricted_capabilities,
    ),
)


def template_annotations(resource_type: str, props: Mapping[str, Any]) -> Mapping[str, Any]:
    """Annotations of the pods an object creates: its template's, or a bare Pod's own."""
    if resource_type == "kubernetes:core/v1:Pod":
        path: tuple[str, ...] = ("metadata", "annotations")
    elif resource_type == "kubernetes:batch/v1:CronJob":
        path = ("spec", "jobTemplate", "spec", "template", "metadata", "annotations")
    else:
        path = ("spec", "template", "metadata", "annotations")
    found = dig(props, *path)
    return found if isinstance(found, Mapping) else {}


def check(resource_type: str, props: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    spec = pod_spec(resource_type, props)
    if spec is None:
        return []
    pod = Pod(object_name(props), spec, template_annotations(resource_type, props))
    levels = PROFILES[: PROFILES.index(config["profile"]) + 1]
    return [problem for c in CONTROLS if c.profile in levels for problem in c.check(pod)]


RULE = Rule(
    name="pod-security",
    description="Pods meet every control of the Pod Security Standards' baseline and restricted "
    "profiles, in init, regular and ephemeral containers; applies to every kind with a pod "
    "template.",
    why="A model server parses untrusted input; if it is compromised, it must hold no privileges. "
    "The namespaces enforce the same profile at admission; this finds it at review.",
    severity=Severity.CRITICAL,
    remediation="Use the security context ModelService builds (components/serving/builders.py).",
    config={
        "profile": {
            "type": "string",
            "enum": list(PROFILES),
            "default": "restricted",
            "description": "Pod Security Standard profile to hold pods to: baseline or "
            "restricted (which includes baseline)",
        }
    },
    check=check,
)
