"""Check `helm template` output: YAML documents, each a Kubernetes object, plus Xinyu's rules.

    helm template ... | uv run python charts/validate_rendered.py --source <label>

Every document must parse and carry apiVersion, kind and metadata.name; no two objects may share
kind and name. Workloads written by xinyu-lib must follow the platform's rules: non-root,
read-only root file system, no privilege escalation, every capability dropped, seccomp
RuntimeDefault, resources set, no secret value in an env `value`, one name (label, container,
image, OTEL_SERVICE_NAME). No chart may render a Secret: secrets are never values.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from typing import Any

import yaml

PART_OF = {"xinyu", "xinyu-data-plane"}
SECRETISH = re.compile(r"(PASSWORD|SECRET|TOKEN|CREDENTIAL)", re.IGNORECASE)
WORKLOADS = {"Deployment", "Job", "StatefulSet", "DaemonSet"}


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = obj["spec"]["template"]["spec"]
    return spec


def workload_problems(obj: dict[str, Any]) -> Iterator[str]:
    name = obj["metadata"]["name"]
    labels = obj["metadata"].get("labels") or {}
    service = labels.get("app.kubernetes.io/name")
    pod = pod_spec(obj)
    psc = pod.get("securityContext") or {}
    if psc.get("runAsNonRoot") is not True:
        yield "pod securityContext.runAsNonRoot is not true"
    if (psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        yield "pod seccompProfile is not RuntimeDefault"
    if pod.get("automountServiceAccountToken") is not False:
        yield "automountServiceAccountToken is not false"
    for container in [*pod.get("initContainers", []), *pod["containers"]]:
        where = f"container {container.get('name')}"
        sc = container.get("securityContext") or {}
        if sc.get("allowPrivilegeEscalation") is not False:
            yield f"{where}: allowPrivilegeEscalation is not false"
        if sc.get("readOnlyRootFilesystem") is not True:
            yield f"{where}: readOnlyRootFilesystem is not true"
        if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
            yield f"{where}: capabilities are not all dropped"
        if sc.get("privileged"):
            yield f"{where}: privileged"
        resources = container.get("resources") or {}
        if not (resources.get("requests") or {}).get("memory"):
            yield f"{where}: no memory request"
        if not (resources.get("limits") or {}).get("memory"):
            yield f"{where}: no memory limit"
        env = {e["name"]: e for e in container.get("env", [])}
        for env_name, entry in env.items():
            if SECRETISH.search(env_name) and "value" in entry:
                yield f"{where}: {env_name} has a literal value; use a Secret reference"
        if service:
            if container.get("name") != service:
                yield f"{where}: container is not named after the service {service}"
            image = str(container.get("image", ""))
            # registry[:port]/path/name[:tag][@digest]: the tag follows the last slash.
            image_name = image.split("@", 1)[0].rsplit("/", 1)[-1].split(":", 1)[0]
            if image_name != service:
                yield f"{where}: image {image} is not named {service}"
            otel = (env.get("OTEL_SERVICE_NAME") or {}).get("value")
            if otel != service:
                yield f"{where}: OTEL_SERVICE_NAME is {otel!r}, not {service!r}"
        probed = all(container.get(p) for p in ("livenessProbe", "readinessProbe"))
        if obj["kind"] == "Deployment" and component_of(obj) == "server" and not probed:
            yield f"{where}: server without liveness and readiness probes"
    if obj["kind"] == "Job":
        annotations = obj["metadata"].get("annotations") or {}
        if component_of(obj) == "migrate" and "helm.sh/hook" not in annotations:
            yield f"{name}: migration Job is not a Helm hook"


def component_of(obj: dict[str, Any]) -> str | None:
    labels = obj["metadata"].get("labels") or {}
    value = labels.get("app.kubernetes.io/component")
    return str(value) if value is not None else None


def problems(documents: list[Any]) -> Iterator[str]:
    seen: set[tuple[str, str, str]] = set()
    for index, doc in enumerate(documents):
        if doc is None:
            continue
        where = f"document {index}"
        if not isinstance(doc, dict):
            yield f"{where}: not a mapping"
            continue
        metadata = doc.get("metadata")
        name = metadata.get("name") if isinstance(metadata, dict) else None
        if not doc.get("apiVersion") or not doc.get("kind") or not name:
            yield f"{where}: missing apiVersion, kind or metadata.name"
            continue
        assert isinstance(metadata, dict)
        where = f"{doc['kind']}/{name}"
        key = (str(doc["apiVersion"]).split("/")[0], str(doc["kind"]), str(name))
        if key in seen:
            yield f"{where}: rendered twice"
        seen.add(key)
        if doc["kind"] == "Secret":
            yield f"{where}: charts never render Secrets (secret values are not values)"
        labels = metadata.get("labels") or {}
        if labels.get("app.kubernetes.io/part-of") not in PART_OF:
            yield f"{where}: label app.kubernetes.io/part-of is not one of {sorted(PART_OF)}"
        if not labels.get("app.kubernetes.io/name"):
            yield f"{where}: no app.kubernetes.io/name label"
        if doc["kind"] in WORKLOADS:
            for problem in workload_problems(doc):
                yield f"{where}: {problem}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--source", default="stdin", help="what was rendered, for messages")
    parser.add_argument("--min-documents", type=int, default=1)
    ns = parser.parse_args(argv)
    try:
        documents = list(yaml.safe_load_all(sys.stdin))
    except yaml.YAMLError as exc:
        print(f"validate: {ns.source}: not YAML: {exc}", file=sys.stderr)
        return 1
    found = list(problems(documents))
    count = sum(1 for d in documents if d is not None)
    if count < ns.min_documents:
        found.append(f"only {count} documents, expected at least {ns.min_documents}")
    for problem in found:
        print(f"validate: {ns.source}: {problem}", file=sys.stderr)
    if found:
        return 1
    kinds: dict[str, int] = {}
    for doc in documents:
        if doc is not None:
            kinds[doc["kind"]] = kinds.get(doc["kind"], 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    print(f"validate: {ns.source}: {count} objects OK ({summary})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
