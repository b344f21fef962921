"""TLS (CDS Hooks 2.0 §Security and Safety): ``cds-service serve`` speaks HTTPS from
CDS_TLS_CERT_FILE/CDS_TLS_KEY_FILE with TLS 1.2 at least, and outside development refuses plain
HTTP on a non-loopback address unless a TLS-terminating proxy is declared. A real server process,
with a self-signed certificate made here."""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
import ssl
import subprocess
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cds_service import tls
from cds_service.cli import main
from tests.auth.ehr import EHR, SIGN_URL, write_trust
from tests.ops.processes import CLI, free_port, production, start, stop, wait_ready

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("each_http_stack")]


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def client_context(cert_file: Path) -> ssl.SSLContext:
    """An EHR that trusts our certificate (and nothing else)."""
    return ssl.create_default_context(cafile=str(cert_file))


def old_client(version: ssl.TLSVersion) -> ssl.SSLContext:
    """A client that speaks only ``version`` (old versions need OpenSSL's security level 0)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():  # choosing TLS 1.1 is deprecated: that is the point
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = context.maximum_version = version
    return context


def handshake(port: int, context: ssl.SSLContext) -> str | None:
    """The negotiated TLS version, as the client sees it."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname="localhost") as conn:
        return conn.version()


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    cert_file, key_file = self_signed(tmp_path)
    env = production(tmp_path, EHR(), CDS_TLS_CERT_FILE=str(cert_file),
                     CDS_TLS_KEY_FILE=str(key_file))
    served = start(env, tmp_path)
    try:
        wait_ready(served, base=f"https://127.0.0.1:{served.port}",
                   verify=client_context(cert_file))
        yield served.port, cert_file
    finally:
        assert stop(served) == 0


def test_serve_answers_hook_calls_over_https(https_server: tuple[int, Path]) -> None:
    port, cert_file = https_server
    base = f"https://127.0.0.1:{port}"
    ehr = EHR()
    with httpx2.Client(verify=client_context(cert_file)) as client:
        assert client.get(f"{base}/healthz").status_code == 200
        response = client.get(f"{base}/cds-services",
                              headers=ehr.auth(SIGN_URL.rsplit("/", 1)[0]))
    assert response.status_code == 200
    assert handshake(port, client_context(cert_file)) in ("TLSv1.2", "TLSv1.3")


def test_two_workers_serve_https(tmp_path: Path) -> None:
    """Each worker process is given the TLS protocol class by name (it must be importable)."""
    cert_file, key_file = self_signed(tmp_path)
    env = production(tmp_path, EHR(), CDS_TLS_CERT_FILE=str(cert_file),
                     CDS_TLS_KEY_FILE=str(key_file))
    served = start(env, tmp_path, workers=2)
    try:
        base = f"https://127.0.0.1:{served.port}"
        wait_ready(served, base=base, verify=client_context(cert_file))
        with httpx2.Client(verify=client_context(cert_file)) as client:
            assert [client.get(f"{base}/healthz").status_code for _ in range(4)] == [200] * 4
        assert len(served.workers()) == 2
    finally:
        assert stop(served) == 0


def test_https_refuses_tls_1_1(https_server: tuple[int, Path], tmp_path: Path) -> None:
    port, _ = https_server
    if not can_speak(ssl.TLSVersion.TLSv1_1, tmp_path / "control"):
        pytest.skip("this OpenSSL cannot negotiate TLS 1.1 even with itself")
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        handshake(port, old_client(ssl.TLSVersion.TLSv1_1))
    assert handshake(port, old_client(ssl.TLSVersion.TLSv1_2)) == "TLSv1.2"


def can_speak(version: ssl.TLSVersion, directory: Path) -> bool:
    """Control for the test above: the old client does negotiate ``version`` with a server that
    allows it, so its refusal by ours is our server's doing."""
    directory.mkdir()
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.set_ciphers("DEFAULT:@SECLEVEL=0")
    server.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    server.load_cert_chain(*self_signed(directory))
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(10)

        def accept() -> None:
            try:
                conn, _ = listener.accept()
                with server.wrap_socket(conn, server_side=True) as tls_conn:
                    tls_conn.recv(1)
            except OSError:  # ssl.SSLError included: the control simply fails
                pass

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        try:
            return handshake(listener.getsockname()[1], old_client(version)) == "TLSv1.1"
        except OSError:
            return False
        finally:
            thread.join(15)


def test_the_server_context_pins_tls_1_2_as_the_minimum(tmp_path: Path) -> None:
    cert_file, key_file = self_signed(tmp_path)
    assert tls.server_context(str(cert_file), str(key_file)).minimum_version \
        == ssl.TLSVersion.TLSv1_2


def test_plain_http_on_every_interface_in_production_is_refused_with_one_line(
        tmp_path: Path) -> None:
    env = production(tmp_path, EHR())
    result = subprocess.run([CLI, "serve", "--host", "0.0.0.0", "--port", str(free_port())],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("configuration error in --host 0.0.0.0: plain HTTP")
    assert "CDS_TLS_CERT_FILE" in line and "CDS_BEHIND_TLS_PROXY=true" in line


@pytest.fixture
def no_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[dict[str, Any]]:
    """serve's start-up checks in this process; uvicorn's run is recorded, not started."""
    for name in [n for n in os.environ if n.startswith("CDS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CDS_RECORD_DECISIONS", "false")
    monkeypatch.setenv("CDS_TRUSTED_CLIENTS",
                       str(write_trust(tmp_path / "trust.json", EHR().entry())))
    monkeypatch.setattr("cds_service.logs.configure", lambda *args: None)
    monkeypatch.setattr("signal.signal", lambda *args: None)
    runs: list[dict[str, Any]] = []
    monkeypatch.setattr("cds_service.server.supervisor.serve",
                        lambda **kwargs: runs.append(kwargs) or 0)
    # The address is tried for real elsewhere (tests/test_setting_mistakes.py); here a busy
    # port 8080 on a shared machine must not decide the outcome.
    monkeypatch.setattr("cds_service.server.address.check_listen", lambda host, port: None)
    return runs


@pytest.mark.parametrize(("host", "settings"), [
    ("0.0.0.0", {"CDS_BEHIND_TLS_PROXY": "true",  # an Ingress terminates TLS
                 "CDS_PUBLIC_BASE_URL": "https://cds.payer.example"}),
    ("0.0.0.0", {"CDS_ENVIRONMENT": "development"}),
    ("127.0.0.1", {}),
    ("::1", {}),
    ("localhost", {}),
])
def test_plain_http_is_served_where_it_is_safe_or_declared(
        no_server: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, host: str,
        settings: dict[str, str]) -> None:
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    assert main(["serve", "--host", host]) == 0
    assert [run.get("ssl_certfile") for run in no_server] == [None]


def test_a_certificate_that_does_not_match_its_key_is_refused_with_one_line(
        no_server: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    cert_file, _ = self_signed(tmp_path / "a")
    _, other_key = self_signed(tmp_path / "b")
    monkeypatch.setenv("CDS_TLS_CERT_FILE", str(cert_file))
    monkeypatch.setenv("CDS_TLS_KEY_FILE", str(other_key))
    monkeypatch.setenv("CDS_PUBLIC_BASE_URL", "https://localhost:8443")
    assert main(["serve", "--host", "0.0.0.0"]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("configuration error in CDS_TLS_CERT_FILE, CDS_TLS_KEY_FILE: cannot use")
    assert no_server == []


def test_a_certificate_without_its_key_is_refused(
        no_server: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    cert_file, _ = self_signed(tmp_path)
    monkeypatch.setenv("CDS_TLS_CERT_FILE", str(cert_file))
    assert main(["serve"]) == 2
    assert "CDS_TLS_CERT_FILE and CDS_TLS_KEY_FILE go together" in capsys.readouterr().err
