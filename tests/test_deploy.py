"""The deployment files name only settings and commands that exist."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from cds_service.cli import main
from cds_service.config import Settings
from tests.support import ROOT

DEPLOY = ROOT / "deploy" / "kubernetes"


def documents() -> list[dict[str, Any]]:
    return [d for p in sorted(DEPLOY.glob("*.yaml")) for d in yaml.safe_load_all(p.read_text())
            if d]


def test_every_cds_variable_in_the_manifests_is_a_setting() -> None:
    fields = {f"CDS_{name.upper()}" for name in Settings.model_fields}
    named = set(re.findall(r"\b(CDS_[A-Z_]+)\b", "".join(p.read_text()
                                                          for p in DEPLOY.glob("*.yaml"))))
    assert named and named <= fields, named - fields


def test_every_command_the_manifests_and_dockerfile_run_exists() -> None:
    commands = []
    for doc in documents():
        spec = doc.get("spec", {})
        pod = (spec.get("template") or spec.get("jobTemplate", {}).get("spec", {})
               .get("template") or {}).get("spec", {})
        for container in pod.get("containers", []):
            commands.append(container.get("command") or container.get("args"))
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
    by_kind = {d["kind"]: d for d in documents() if d["kind"] in ("Ingress", "Service")}
    settings = next(d for d in documents()
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
