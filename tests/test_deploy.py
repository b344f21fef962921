"""The deployment files are valid Kubernetes, name only settings and commands that exist, mount
every file their settings name, and never carry a secret."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from cds_service import probe
from cds_service.cli import main
from cds_service.config import Settings, _base_type
from tests.ops.processes import development, free_port, serving
from tests.support import ROOT

DEPLOY = ROOT / "deploy" / "kubernetes"
#: The oldest Kubernetes release the manifests are checked against (schemas bundled with
#: kubernetes-validate, so the check runs offline).
KUBERNETES_VERSION = "1.30.0"


def documents(path: Path | None = None) -> list[dict[str, Any]]:
    paths = [path] if path else sorted(DEPLOY.glob("*.yaml"))
    return [d for p in paths for d in yaml.safe_load_all(p.read_text()) if d]


def manifests() -> list[dict[str, Any]]:
    """Every Kubernetes object (the kustomization is kustomize's, not the cluster's)."""
    return [d for d in documents() if d["kind"] != "Kustomization"]


def pods() -> dict[str, dict[str, Any]]:
    """Each workload's pod spec, by the workload's kind and name."""
    found = {}
    for doc in manifests():
        spec = doc.get("spec", {})
        template = spec.get("template") or spec.get("jobTemplate", {}).get("spec", {}).get(
            "template")
        if template:
            found[f"{doc['kind']}/{doc['metadata']['name']}"] = template["spec"]
    return found


@pytest.mark.parametrize("doc", manifests(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_every_manifest_is_valid_against_the_kubernetes_schema(doc: dict[str, Any]) -> None:
    # strict: a misspelt or misplaced field (volumeMount under the pod, not the container) fails
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_schema_check_would_catch_a_misplaced_field() -> None:
    job = next(d for d in manifests() if d["kind"] == "Job")
    broken = yaml.safe_load(yaml.safe_dump(job))
    broken["spec"]["template"]["spec"]["volumeMounts"] = \
        broken["spec"]["template"]["spec"]["containers"][0].pop("volumeMounts")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


FILE_SETTINGS = {f"CDS_{name.upper()}" for name, field in Settings.model_fields.items()
                 if _base_type(field.annotation) is Path}


@pytest.mark.parametrize("workload", sorted(pods()))
def test_every_workload_mounts_the_files_its_settings_name(workload: str) -> None:
    """The migration Job and the purge CronJob once took the ConfigMap's paths with no volumes:
    both exited 2 at once (every command checks that those files exist)."""
    config_maps = {d["metadata"]["name"]: d.get("data", {}) for d in manifests()
                   if d["kind"] == "ConfigMap"}
    pod = pods()[workload]
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for container in pod["containers"]:
        settings = {k: v for ref in container.get("envFrom", []) if "configMapRef" in ref
                    for k, v in config_maps[ref["configMapRef"]["name"]].items()}
        named = {k: v for k, v in settings.items() if k in FILE_SETTINGS}
        assert named, "the ConfigMap names no file: this test would check nothing"
        for variable, value in named.items():
            mount = next((m for m in container.get("volumeMounts", [])
                          if PurePosixPath(value).is_relative_to(m["mountPath"])), None)
            assert mount, f"{workload}: {variable}={value} is not on any volume"
            assert mount["name"] in volumes, f"{workload}: no volume {mount['name']}"
            source = volumes[mount["name"]]
            if "configMap" in source:
                assert source["configMap"]["name"] in config_maps


@pytest.mark.parametrize("workload", sorted(pods()))
def test_no_workload_gets_the_service_links_that_would_stop_it(workload: str) -> None:
    """Kubernetes gives each pod CDS_SERVICE_HOST, CDS_SERVICE_PORT... for the Service named
    cds-service, and every CDS_ variable is read as a setting: start-up would refuse them."""
    services = [d["metadata"]["name"] for d in manifests() if d["kind"] == "Service"]
    assert any(name.upper().replace("-", "_").startswith("CDS_") for name in services)
    assert pods()[workload].get("enableServiceLinks") is False


def referenced_secrets() -> set[str]:
    names = set()
    for pod in pods().values():
        names |= {v["secret"]["secretName"] for v in pod.get("volumes", []) if "secret" in v}
        names |= {ref["secretRef"]["name"] for c in pod["containers"]
                  for ref in c.get("envFrom", []) if "secretRef" in ref}
    names |= {t["secretName"] for d in manifests() if d["kind"] == "Ingress"
              for t in d["spec"].get("tls", [])}
    return names


def test_kubectl_apply_k_never_applies_a_secret_and_each_one_is_documented() -> None:
    """A Secret with placeholders in the kustomization once overwrote the real ones on every
    `kubectl apply -k` (and its empty trust file stopped the pods)."""
    kustomization = DEPLOY / "kustomization.yaml"
    applied = [d for name in yaml.safe_load(kustomization.read_text())["resources"]
               for d in documents(DEPLOY / name)]
    assert applied and not [d for d in applied if d["kind"] == "Secret"]
    assert not [d for d in manifests() if d["kind"] == "Secret"]
    created = set(re.findall(r"kubectl create secret \S+ (\S+)", kustomization.read_text()))
    assert referenced_secrets() == created == {"cds-service", "cds-service-trust",
                                               "cds-service-tls"}


def test_every_cds_variable_in_the_manifests_is_a_setting() -> None:
    fields = {f"CDS_{name.upper()}" for name in Settings.model_fields}
    named = set(re.findall(r"\b(CDS_[A-Z_]+)\b", "".join(p.read_text()
                                                          for p in DEPLOY.glob("*.yaml"))))
    assert named and named <= fields, named - fields


def test_every_command_the_manifests_and_dockerfile_run_exists() -> None:
    commands = [container.get("command") or container.get("args")
                for pod in pods().values() for container in pod["containers"]]
    dockerfile = (ROOT / "Dockerfile").read_text()
    cmd = re.search(r'^CMD (\[.*\])$', dockerfile, re.M)
    assert cmd
    commands.append(yaml.safe_load(cmd.group(1)))
    assert len(commands) == 4
    for argv in commands:
        assert argv[0] == "cds-service"
        with pytest.raises(SystemExit) as helped:
            main([*argv[1:3], "--help"] if argv[1] in ("db", "records") else [argv[1], "--help"])
        assert helped.value.code == 0


def test_kustomization_lists_every_manifest_but_the_migration_job() -> None:
    listed = set(yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())["resources"])
    present = {p.name for p in DEPLOY.glob("*.yaml")} - {"kustomization.yaml"}
    assert present - listed == {"migrate-job.yaml"}


def test_the_ingress_serves_the_public_base_url_over_tls_and_keeps_metrics_inside() -> None:
    by_kind = {d["kind"]: d for d in manifests() if d["kind"] in ("Ingress", "Service")}
    settings = next(d for d in manifests()
                    if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "cds-service")
    base = urlsplit(settings["data"]["CDS_PUBLIC_BASE_URL"])
    assert base.scheme == "https"
    assert settings["data"]["CDS_BEHIND_TLS_PROXY"] == "true"  # the pods speak HTTP behind it
    ingress = by_kind["Ingress"]["spec"]
    [tls] = ingress["tls"]
    assert tls["hosts"] == [base.hostname] and tls["secretName"]
    [rule] = ingress["rules"]
    assert rule["host"] == base.hostname
    paths = {p["path"] for p in rule["http"]["paths"]}
    assert {"/cds-services", "/policies"} <= paths
    assert not paths & {"/", "/metrics", "/records"}
    ports = {p["name"] for p in by_kind["Service"]["spec"]["ports"]}
    for p in rule["http"]["paths"]:
        backend = p["backend"]["service"]
        assert backend["name"] == by_kind["Service"]["metadata"]["name"]
        assert backend["port"]["name"] in ports


# --- the container's health check --------------------------------------------------------------

def test_the_dockerfile_health_check_follows_the_server_it_checks() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    healthcheck = dockerfile[dockerfile.index("HEALTHCHECK"):dockerfile.index("\nCMD")]
    assert '["python", "-m", "cds_service.probe"]' in healthcheck
    assert "8080" not in healthcheck  # once hard-coded: a server on another port was "unhealthy"


@pytest.mark.parametrize(("command_line", "environ", "url"), [
    (["/opt/venv/bin/python", "/opt/venv/bin/cds-service", "serve", "--host", "0.0.0.0",
      "--port", "9090"], {}, "http://127.0.0.1:9090/healthz"),
    (["/sbin/tini", "--", "cds-service", "serve", "--port", "8443", "--workers", "2"],
     {"CDS_TLS_CERT_FILE": "/run/secrets/tls.crt"}, "https://127.0.0.1:8443/healthz"),
    (["cds-service", "serve", "--host", "::1"], {}, "http://[::1]:8080/healthz"),
    (["cds-service", "serve", "--host", "::"], {}, "http://127.0.0.1:8080/healthz"),
])
def test_the_health_check_takes_the_port_address_and_scheme_serve_was_started_with(
        command_line: list[str], environ: dict[str, str], url: str) -> None:
    assert probe.health_url(command_line, environ) == url


@pytest.mark.slow
def test_the_health_check_passes_on_the_servers_port_and_fails_elsewhere(tmp_path: Path) -> None:
    with serving(development(tmp_path), tmp_path) as served:
        started = ["cds-service", "serve", "--host", "0.0.0.0", "--port", str(served.port)]
        assert probe.check(started, {}) == 0
        assert probe.check([*started[:-1], str(free_port())], {}) == 1
