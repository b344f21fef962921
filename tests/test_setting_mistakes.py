"""The mistakes an operator makes with settings, each met as the operator meets it (the real
``cds-service`` command in a subprocess): exit status 2 and one line naming what was refused and
the accepted form, never a traceback, a silent default, a prompt or a service that answers 401.
(Bad values of each setting: tests/test_settings_errors.py.)"""

from __future__ import annotations

import hashlib
import os
import pty
import socket
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from cds_service.config import Settings
from cds_service.errors import ConfigurationError
from tests.ops.processes import CLI, environment, free_port
from tests.ops.test_tls import self_signed
from tests.test_settings_errors import assert_one_line_refusal, run

DEVELOPMENT = {"CDS_ENVIRONMENT": "development", "CDS_AUTH_ENABLED": "false",
               "CDS_RECORD_DECISIONS": "false"}


# --- a mistyped name is not ignored ------------------------------------------------------------

@pytest.mark.parametrize(("typo", "meant"), [
    ("CDS_DATABSE_URL", "CDS_DATABASE_URL"),  # once: records silently on SQLite in the cwd
    ("CDS_TLS_CERT", "CDS_TLS_CERT_FILE"),  # once: silently plain HTTP
    ("CDS_TLS_KEY", "CDS_TLS_KEY_FILE"),
    ("cds_log_levle", "CDS_LOG_LEVEL"),  # names are read ignoring case
])
def test_a_mistyped_setting_name_is_refused_naming_the_closest_setting(
        tmp_path: Path, typo: str, meant: str) -> None:
    result = run(tmp_path, "db", "check", **{typo: "postgresql+psycopg://cds:s3cret@db/cds"})
    line = assert_one_line_refusal(result, typo)
    assert f"not a setting; did you mean {meant}?" in line
    assert "s3cret" not in result.stderr  # the value may be a secret: never repeated


def test_an_unknown_name_without_a_close_setting_points_to_the_reference(tmp_path: Path) -> None:
    line = assert_one_line_refusal(run(tmp_path, "db", "check", CDS_FLAVOUR="vanilla"),
                                   "CDS_FLAVOUR")
    assert "not a setting; see the settings reference" in line


@pytest.mark.parametrize("variable", ["CDS_SERVICE_SERVICE_HOST", "CDS_SERVICE_PORT",
                                      "CDS_SERVICE_PORT_80_TCP_ADDR"])
def test_kubernetes_service_links_are_named_with_their_fix(tmp_path: Path, variable: str) -> None:
    line = assert_one_line_refusal(run(tmp_path, "db", "check", **{variable: "10.0.0.7"}),
                                   variable)
    assert "Kubernetes sets it for a Service" in line and "enableServiceLinks: false" in line


def test_serve_refuses_a_mistyped_name_before_it_serves(tmp_path: Path) -> None:
    line = assert_one_line_refusal(run(tmp_path, "serve", CDS_TLS_CERT="cert.pem", **DEVELOPMENT),
                                   "CDS_TLS_CERT")
    assert "did you mean CDS_TLS_CERT_FILE?" in line


def test_the_test_suites_own_variables_are_not_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1/x")
    Settings()  # not refused: CDS_TEST_ is reserved for the test suite


# --- the database URL --------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["", "sqlite:/var/cds.db", "postgresql+psycopg//cds:s3cret@db/cds"])
def test_a_malformed_database_url_names_the_accepted_form(tmp_path: Path, url: str) -> None:
    result = run(tmp_path, "db", "check", CDS_DATABASE_URL=url)
    line = assert_one_line_refusal(result, "CDS_DATABASE_URL")
    assert "expected sqlite:///<file>" in line and "postgresql+psycopg://<user>:" in line
    assert "Could not parse" not in line and "s3cret" not in result.stderr


# --- TLS and the public base URL ---------------------------------------------------------------

def encrypted_key(tmp_path: Path) -> tuple[Path, Path]:
    cert_file, key_file = self_signed(tmp_path)
    key = load_pem_private_key(key_file.read_bytes(), password=None)
    key_file.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"a passphrase")))
    return cert_file, key_file


def test_serve_with_an_encrypted_key_refuses_without_prompting_on_the_terminal(
        tmp_path: Path) -> None:
    """Started from a terminal (a pseudo-terminal is its controlling terminal), where OpenSSL
    once waited for a passphrase: the run ends by itself, with one line."""
    cert_file, key_file = encrypted_key(tmp_path)
    env = environment(tmp_path, CDS_PUBLIC_BASE_URL="https://localhost:8443",
                      CDS_TLS_CERT_FILE=str(cert_file), CDS_TLS_KEY_FILE=str(key_file),
                      **DEVELOPMENT)
    controller, terminal = pty.openpty()
    terminal_name = os.ttyname(terminal)

    def with_controlling_terminal() -> None:
        os.setsid()
        os.close(os.open(terminal_name, os.O_RDWR))  # a session leader's first tty: its own

    try:
        result = subprocess.run([CLI, "serve", "--port", str(free_port())], cwd=tmp_path, env=env,
                                stdin=terminal, capture_output=True, text=True, timeout=60,
                                preexec_fn=with_controlling_terminal)
    finally:
        os.close(terminal)
        os.close(controller)
    line = assert_one_line_refusal(result, "CDS_TLS_KEY_FILE")
    assert "is encrypted" in line and "expected an unencrypted PEM private key" in line


@pytest.mark.parametrize("serving", ["tls", "proxy"])
def test_an_http_base_url_while_ehrs_call_over_https_is_refused(tmp_path: Path,
                                                                serving: str) -> None:
    cert_file, key_file = self_signed(tmp_path)
    how = ({"CDS_TLS_CERT_FILE": str(cert_file), "CDS_TLS_KEY_FILE": str(key_file)}
           if serving == "tls" else {"CDS_BEHIND_TLS_PROXY": "true"})
    result = run(tmp_path, "serve", CDS_PUBLIC_BASE_URL="http://cds.payer.example", **how,
                 **DEVELOPMENT)
    line = assert_one_line_refusal(result, "CDS_PUBLIC_BASE_URL")
    assert "starts with http:// but EHRs call over HTTPS" in line
    assert "expected the https:// URL EHRs use, e.g. https://cds.payer.example" in line


def test_the_default_base_url_is_named_as_such_when_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CDS_PUBLIC_BASE_URL", raising=False)
    monkeypatch.setenv("CDS_BEHIND_TLS_PROXY", "true")
    with pytest.raises(ConfigurationError) as refused:
        Settings()
    assert "CDS_PUBLIC_BASE_URL='http://localhost:8080', the default, starts with http://" in \
        refused.value.problems[0]


def test_an_https_base_url_with_plain_http_is_a_proxy_or_tunnel_in_front(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDS_PUBLIC_BASE_URL", "https://cds.payer.example")
    assert Settings().public_base_url == "https://cds.payer.example"


# --- the address -------------------------------------------------------------------------------

@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_port_in_use_is_refused_naming_the_address(tmp_path: Path, workers: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(tmp_path, "serve", "--port", str(port), "--workers", workers, **DEVELOPMENT)
    line = assert_one_line_refusal(result, f"--host 127.0.0.1 --port {port}")
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in line


# --- the operators' credential -----------------------------------------------------------------

TOKEN = "7f3c9a1e5b2d4c6f8a0e1d3b5c7f9a2e" * 2  # `openssl rand -hex 32`: looks like a digest


@pytest.mark.parametrize(("value", "problem"), [
    (TOKEN, "is bare hexadecimal, which could be a token as well as a digest"),
    ("operator-" + TOKEN, "is not a SHA-256 digest"),  # the token itself
    ("sha256:" + TOKEN[:63], "is not a SHA-256 digest"),
])
def test_an_operator_credential_not_in_the_digest_form_is_refused_at_start(
        tmp_path: Path, value: str, problem: str) -> None:
    result = run(tmp_path, "serve", CDS_OPERATOR_TOKEN_SHA256=value, **DEVELOPMENT)
    line = assert_one_line_refusal(result, "CDS_OPERATOR_TOKEN_SHA256")
    assert f"entry 1 {problem}; expected sha256: followed by the 64 hexadecimal digits" in line
    assert TOKEN[:32] not in result.stderr  # a token pasted here is never printed


def test_the_digest_form_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    digest = hashlib.sha256(TOKEN.encode()).hexdigest()
    monkeypatch.setenv("CDS_OPERATOR_TOKEN_SHA256", f"sha256:{digest.upper()}, sha256:{'0' * 64}")
    assert Settings().operator_token_sha256 == [digest, "0" * 64]


def test_a_refusal_in_process_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDS_DATABSE_URL", "sqlite:///x.db")
    with pytest.raises(ConfigurationError) as refused:
        Settings()
    assert refused.value.source == "CDS_DATABSE_URL"
