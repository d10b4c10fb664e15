"""Structural checks of deploy/k8s that schema validation cannot make.

Run by deploy/k8s/check.sh as `.venv/bin/python deploy/k8s/check_manifests.py [FOLDER]`.
Prints one line per check ("ok" or "FAIL") and exits 1 naming the failed checks.
"""

import pathlib
import re
import shlex
import sys

import yaml

# CONTRACT §2, and the observability settings (docs/observability.md): the only environment
# variables the binaries read.
CONTRACT_VARIABLES = set("""
    GATEWAY_HOST GATEWAY_PORT DATA_DIR
    QUEUE_RPC CONCERT_RPC RESERVATION_RPC PAYMENT_RPC
    QUEUE_EVENTS CONCERT_EVENTS RESERVATION_EVENTS PAYMENT_EVENTS
    QUEUE_BIND CONCERT_BIND RESERVATION_BIND PAYMENT_BIND
    QUEUE_EVENTS_BIND CONCERT_EVENTS_BIND RESERVATION_EVENTS_BIND PAYMENT_EVENTS_BIND
    HOLD_SECONDS MAX_HOLDS_PER_USER QUEUE_ADMIT_PER_SECOND QUEUE_MAX_ACTIVE
    QUEUE_ACTIVE_SECONDS QUEUE_IDLE_SECONDS ADMIN_TOKEN SEED_DEMO LOG_LEVEL
    LOG_FORMAT TRACE_EXPORTER OTEL_EXPORTER_OTLP_ENDPOINT OTEL_EXPORTER_OTLP_PROTOCOL
""".split())

# Each backend's request and event ports (CONTRACT §2 defaults).
BACKENDS = {"queue": (7101, 7102), "concert": (7201, 7202), "reservation": (7301, 7302), "payment": (7401, 7402)}
BIN = "/opt/concert-ticketing/bin"
DATA_DIR = "/var/lib/concert-ticketing"
NAMESPACE = "concert-ticketing"
UID = 10001
MIN_GRACE_SECONDS = 25  # the processes stop within 20 s of SIGTERM


class Report:
    def __init__(self):
        self.failures = []
        self.count = 0

    def check(self, description, problems):
        """Records one check; `problems` is a list of strings (empty when it passes)."""
        self.count += 1
        problems = [p for p in problems if p]
        if problems:
            self.failures.append(description)
            print(f"FAIL {description}: {'; '.join(problems)}")
        else:
            print(f"ok   {description}")


def load(folder):
    """Every object of every manifest, and the file names kustomization.yaml lists."""
    objects, files = [], []
    for path in sorted(folder.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        files.append(path.name)
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                document["__file__"] = path.name
                objects.append(document)
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text()) if (folder / "kustomization.yaml").exists() else None
    return objects, files, kustomization


def find(objects, kind, name):
    matches = [o for o in objects if o.get("kind") == kind and o.get("metadata", {}).get("name") == name]
    return matches[0] if len(matches) == 1 else None


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def container_env(container, configmaps):
    """The environment a container gets from the manifests: ConfigMaps by envFrom, then env."""
    env, names, problems = {}, [], []
    for source in container.get("envFrom", []):
        if "prefix" in source:
            problems.append("envFrom with a prefix")
        ref = source.get("configMapRef")
        if ref:
            data = configmaps.get(ref.get("name"))
            if data is None:
                problems.append(f"envFrom names ConfigMap {ref.get('name')!r}, which is not in the manifests")
                continue
            env.update(data)
            names.extend(data)
        elif source.get("secretRef"):
            problems.append("envFrom secretRef: its variable names cannot be checked")
    for variable in container.get("env", []):
        names.append(variable["name"])
        env[variable["name"]] = variable.get("value", "<from " + ",".join(variable.get("valueFrom", {})) + ">")
    return env, names, problems


def probe_problems(container, kind, probe_name, expect_args):
    """Problems of one probe: it execs the container's own binary's `probe` subcommand, has
    explicit timeoutSeconds, periodSeconds and failureThreshold, and a `--timeout` below timeoutSeconds."""
    probe = container.get(kind)
    if not probe:
        return [f"no {kind}"]
    problems = []
    for field in ("timeoutSeconds", "periodSeconds", "failureThreshold"):
        if not isinstance(probe.get(field), int):
            problems.append(f"{kind} has no explicit {field}")
    command = probe.get("exec", {}).get("command")
    if not command:
        return problems + [f"{kind} does not exec a command"]
    binary = container.get("command", [None])[0]
    if command[0] != binary or command[1:2] != ["probe"]:
        problems.append(f"{kind} runs {shlex.join(command[:2])}, not `{binary} probe`")
    if command[2:3] != [probe_name]:
        problems.append(f"{kind} asks {command[2:3]}, expected {probe_name!r}")
    for flag, value in expect_args.items():
        if flag not in command or command.index(flag) + 1 >= len(command) or command[command.index(flag) + 1] != value:
            problems.append(f"{kind} lacks {flag} {value}")
    if "--timeout" not in command or command.index("--timeout") + 1 >= len(command):
        problems.append(f"{kind} has no --timeout")
    else:
        try:
            wait = float(command[command.index("--timeout") + 1])
        except ValueError:
            problems.append(f"{kind} --timeout is not a number")
        else:
            if isinstance(probe.get("timeoutSeconds"), int) and not wait < probe["timeoutSeconds"]:
                problems.append(f"{kind} --timeout {wait:g} is not below timeoutSeconds {probe['timeoutSeconds']}")
    return problems


def hardening_problems(pod, container):
    problems = []
    pod_security = pod.get("securityContext", {})
    for field, want in (("runAsNonRoot", True), ("runAsUser", UID), ("fsGroup", UID)):
        if pod_security.get(field) != want:
            problems.append(f"pod securityContext.{field} is {pod_security.get(field)!r}, not {want!r}")
    if pod_security.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        problems.append("pod seccompProfile is not RuntimeDefault")
    security = container.get("securityContext", {})
    if security.get("readOnlyRootFilesystem") is not True:
        problems.append("readOnlyRootFilesystem is not true")
    if security.get("allowPrivilegeEscalation") is not False:
        problems.append("allowPrivilegeEscalation is not false")
    if security.get("capabilities", {}).get("drop") != ["ALL"]:
        problems.append("capabilities do not drop ALL")
    if pod.get("enableServiceLinks") is not False:
        problems.append("enableServiceLinks is not false (Kubernetes would set GATEWAY_PORT=tcp://...)")
    resources = container.get("resources", {})
    if not resources.get("requests", {}).get("memory") or not resources.get("requests", {}).get("cpu"):
        problems.append("no cpu and memory requests")
    if not resources.get("limits", {}).get("memory"):
        problems.append("no memory limit")
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    tmp = [m for m in container.get("volumeMounts", []) if m.get("mountPath") == "/tmp"]
    if not tmp or "emptyDir" not in volumes.get(tmp[0]["name"], {}):
        problems.append("no emptyDir at /tmp")
    if not container.get("image") or container.get("imagePullPolicy") != "IfNotPresent":
        problems.append("no image with imagePullPolicy IfNotPresent")
    return problems


def main():
    folder = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).parent)
    objects, files, kustomization = load(folder)
    report = Report()

    listed = (kustomization or {}).get("resources", [])
    report.check("kustomization.yaml lists every manifest, once", [
        "" if kustomization else "kustomization.yaml is missing",
        "" if sorted(listed) == sorted(files) else f"lists {sorted(listed)}, the folder has {sorted(files)}",
    ])
    report.check(f"every object is in namespace {NAMESPACE} and labelled part-of {NAMESPACE}", [
        f"{o['kind']}/{o['metadata'].get('name')} ({o['__file__']})" for o in objects
        if (o["kind"] != "Namespace" and o["metadata"].get("namespace") != NAMESPACE)
        or o["metadata"].get("labels", {}).get("app.kubernetes.io/part-of") != NAMESPACE
    ] + ([] if find(objects, "Namespace", NAMESPACE) else [f"no Namespace {NAMESPACE}"]))

    configmaps = {o["metadata"]["name"]: o.get("data", {}) for o in objects if o["kind"] == "ConfigMap"}
    report.check("every ConfigMap key is a CONTRACT §2 variable", [
        f"{name}: {key}" for name, data in configmaps.items() for key in data if key not in CONTRACT_VARIABLES])
    report.check("no Secret with a value is shipped", [
        f"Secret/{o['metadata']['name']}" for o in objects if o["kind"] == "Secret" and (o.get("data") or o.get("stringData"))])

    workloads = [o for o in objects if o["kind"] in ("StatefulSet", "Deployment")]
    for workload in workloads:
        label = f"{workload['kind']}/{workload['metadata']['name']}"
        spec = workload["spec"]
        pod = spec["template"]["spec"]
        pod_labels = spec["template"]["metadata"].get("labels", {})
        report.check(f"{label}: labels name, part-of and component", [
            f"no {key}" for key in ("app.kubernetes.io/name", "app.kubernetes.io/part-of", "app.kubernetes.io/component")
            if key not in pod_labels or key not in workload["metadata"].get("labels", {})]
            + ([] if selects(spec.get("selector", {}).get("matchLabels"), pod_labels) else ["the selector does not match the pod labels"]))
        grace = pod.get("terminationGracePeriodSeconds")
        report.check(f"{label}: terminationGracePeriodSeconds >= {MIN_GRACE_SECONDS}", [
            "" if isinstance(grace, int) and grace >= MIN_GRACE_SECONDS else f"it is {grace!r}"])
        for container in pod.get("containers", []):
            clabel = f"{label} container {container['name']}"
            env, names, problems = container_env(container, configmaps)
            report.check(f"{clabel}: every environment variable is a CONTRACT §2 variable",
                         problems + [f"{n} is not" for n in names if n not in CONTRACT_VARIABLES])
            report.check(f"{clabel}: runs as {UID}, read-only, no privileges, /tmp, resources", hardening_problems(pod, container))
            endpoint_problems = []
            for peer, (rpc, events) in BACKENDS.items():
                for variable, port, port_name in ((f"{peer.upper()}_RPC", rpc, "rpc"), (f"{peer.upper()}_EVENTS", events, "events")):
                    value = env.get(variable)
                    match = re.fullmatch(r"tcp://([a-z0-9-]+):(\d+)", value or "")
                    if not match:
                        endpoint_problems.append(f"{variable}={value!r} is not tcp://<service>:<port>")
                        continue
                    service = find(objects, "Service", match.group(1))
                    ports = {p.get("name"): p.get("port") for p in (service or {}).get("spec", {}).get("ports", [])}
                    if service is None:
                        endpoint_problems.append(f"{variable} names {match.group(1)!r}, which is no Service")
                    elif int(match.group(2)) != port or ports.get(port_name) != port:
                        endpoint_problems.append(f"{variable}={value}: Service {match.group(1)} port {port_name} is {ports.get(port_name)}, expected {port}")
            report.check(f"{clabel}: every *_RPC and *_EVENTS names its backend's Service and port", endpoint_problems)

    for name, (rpc, events) in BACKENDS.items():
        workload = find(objects, "StatefulSet", name)
        report.check(f"{name} is a StatefulSet", [] if workload else [f"no StatefulSet/{name}"])
        if not workload:
            continue
        spec = workload["spec"]
        pod = spec["template"]["spec"]
        containers = pod.get("containers", [])
        report.check(f"StatefulSet/{name}: replicas is 1 (one SQLite writer)", [
            "" if spec.get("replicas") == 1 else f"replicas is {spec.get('replicas')!r}"])
        strategy = spec.get("updateStrategy", {})
        report.check(f"StatefulSet/{name}: rolling updates replace the one pod, keep the volume", [
            "" if strategy.get("type", "RollingUpdate") == "RollingUpdate" else f"updateStrategy {strategy.get('type')}",
            "" if "maxUnavailable" not in strategy.get("rollingUpdate", {}) else "rollingUpdate.maxUnavailable is set",
            "" if spec.get("persistentVolumeClaimRetentionPolicy", {}).get("whenDeleted", "Retain") == "Retain" else "volumes are deleted with the StatefulSet",
        ])
        if len(containers) != 1:
            report.check(f"StatefulSet/{name}: one container", [f"{len(containers)} containers"])
            continue
        container = containers[0]
        env, _, _ = container_env(container, configmaps)
        report.check(f"StatefulSet/{name}: runs {BIN}/{name} serve", [
            "" if container.get("command") == [f"{BIN}/{name}", "serve"] else f"command is {container.get('command')}"])
        claims = {t["metadata"]["name"] for t in spec.get("volumeClaimTemplates", [])}
        mounts = {m["name"]: m["mountPath"] for m in container.get("volumeMounts", [])}
        report.check(f"StatefulSet/{name}: a volumeClaimTemplate mounted at DATA_DIR ({DATA_DIR})", [
            "" if env.get("DATA_DIR") == DATA_DIR else f"DATA_DIR is {env.get('DATA_DIR')!r}",
            "" if any(mounts.get(claim) == env.get("DATA_DIR") for claim in claims) else f"claims {sorted(claims)}, mounts {mounts}",
        ])
        report.check(f"StatefulSet/{name}: binds tcp://*:{rpc} and tcp://*:{events}", [
            f"{variable} is {env.get(variable)!r}" for variable, port in ((f"{name.upper()}_BIND", rpc), (f"{name.upper()}_EVENTS_BIND", events))
            if env.get(variable) != f"tcp://*:{port}"])
        container_ports = {p.get("name"): p.get("containerPort") for p in container.get("ports", [])}
        service = find(objects, "Service", spec.get("serviceName"))
        problems = [] if service else [f"serviceName {spec.get('serviceName')!r} is no Service"]
        if service:
            if spec.get("serviceName") != name:
                problems.append(f"serviceName is {spec.get('serviceName')!r}, not {name!r}")
            if not selects(service["spec"].get("selector"), spec["template"]["metadata"].get("labels", {})):
                problems.append("the Service does not select the pod")
            ports = {p.get("name"): p for p in service["spec"].get("ports", [])}
            for port_name, number in (("rpc", rpc), ("events", events)):
                port = ports.get(port_name)
                target = (port or {}).get("targetPort")
                if not port or port.get("port") != number:
                    problems.append(f"no port {port_name} {number}")
                elif (container_ports.get(target) if isinstance(target, str) else target) != number or container_ports.get(port_name) != number:
                    problems.append(f"port {port_name} does not reach container port {number}")
        report.check(f"StatefulSet/{name}: its Service exposes rpc {rpc} and events {events}", problems)
        for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
            report.check(f"StatefulSet/{name}: {kind} runs `{name} probe ping` on its own tcp://127.0.0.1:{rpc}, explicit timeouts",
                         probe_problems(container, kind, "ping", {"--endpoint": f"tcp://127.0.0.1:{rpc}"}))

    gateway = find(objects, "Deployment", "gateway")
    report.check("gateway is a Deployment", [] if gateway else ["no Deployment/gateway"])
    if gateway:
        spec = gateway["spec"]
        pod = spec["template"]["spec"]
        pod_labels = spec["template"]["metadata"].get("labels", {})
        container = pod["containers"][0]
        env, _, _ = container_env(container, configmaps)
        port = int(env.get("GATEWAY_PORT", "8080"))
        report.check("Deployment/gateway: replicas >= 2", [
            "" if isinstance(spec.get("replicas"), int) and spec["replicas"] >= 2 else f"replicas is {spec.get('replicas')!r}"])
        rolling = spec.get("strategy", {}).get("rollingUpdate", {})
        report.check("Deployment/gateway: rolling update with maxUnavailable 0", [
            "" if spec.get("strategy", {}).get("type") == "RollingUpdate" and rolling.get("maxUnavailable") == 0 else f"strategy is {spec.get('strategy')}"])
        report.check(f"Deployment/gateway: runs {BIN}/gateway serve on 0.0.0.0:{port}", [
            "" if container.get("command") == [f"{BIN}/gateway", "serve"] else f"command is {container.get('command')}",
            "" if env.get("GATEWAY_HOST") == "0.0.0.0" else f"GATEWAY_HOST is {env.get('GATEWAY_HOST')!r}",
            "" if any(p.get("containerPort") == port for p in container.get("ports", [])) else f"no containerPort {port}",
        ])
        admin = [v for v in container.get("env", []) if v["name"] == "ADMIN_TOKEN"]
        report.check("Deployment/gateway: ADMIN_TOKEN from an optional Secret", [
            "" if admin and admin[0].get("valueFrom", {}).get("secretKeyRef", {}).get("optional") is True else "no optional secretKeyRef"])
        service = find(objects, "Service", "gateway")
        named = {p.get("name"): p.get("containerPort") for p in container.get("ports", [])}
        service_ok = service and selects(service["spec"].get("selector"), pod_labels) and any(
            (named.get(p.get("targetPort")) if isinstance(p.get("targetPort"), str) else p.get("targetPort")) == port
            for p in service["spec"].get("ports", []))
        report.check(f"Service/gateway selects the gateways and forwards to {port}", [] if service_ok else ["it does not"])
        budgets = [o for o in objects if o["kind"] == "PodDisruptionBudget" and selects(o["spec"].get("selector", {}).get("matchLabels"), pod_labels)]
        report.check("PodDisruptionBudget keeps a gateway available", [
            "" if budgets and budgets[0]["spec"].get("minAvailable", 0) >= 1 else "no budget with minAvailable >= 1"])
        pre_stop = container.get("lifecycle", {}).get("preStop", {})
        delay = pre_stop.get("sleep", {}).get("seconds")
        report.check("Deployment/gateway: preStop waits for the endpoints to go, within the grace period", [
            "" if isinstance(delay, int) and 0 < delay and delay + 20 <= pod.get("terminationGracePeriodSeconds", 30) else f"preStop is {pre_stop}"])
        url = f"http://127.0.0.1:{port}"
        for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
            report.check(f"Deployment/gateway: {kind} runs `gateway probe health` on its own {url}, explicit timeouts",
                         probe_problems(container, kind, "health", {"--url": url}))

    print(f"{report.count - len(report.failures)} of {report.count} checks passed")
    if report.failures:
        shown = report.failures[:5]
        more = f" (and {len(report.failures) - len(shown)} more)" if len(report.failures) > len(shown) else ""
        print("check_manifests: failed: " + "; ".join(shown) + more, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
