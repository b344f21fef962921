"""How ``cds-service serve`` meets CDS Hooks' TLS requirement (2.0 §Security and Safety: every
exchange "MUST be transmitted over channels secured using ... TLS"; Da Vinci CRD likewise).

Either the service speaks HTTPS itself (``CDS_TLS_CERT_FILE``/``CDS_TLS_KEY_FILE``, TLS 1.2 or
later, as RFC 8996 and NIST SP 800-52r2 require), or a TLS-terminating proxy is in front and the
operator says so (``CDS_BEHIND_TLS_PROXY=true``). Outside development, plain HTTP on an address
other than loopback is refused at start-up: it would carry tokens and patient data in clear.
"""

from __future__ import annotations

import ipaddress
import logging
import ssl

from cds_service.config import Settings
from cds_service.errors import ConfigurationError

MINIMUM_VERSION = ssl.TLSVersion.TLSv1_2


def check(settings: Settings, host: str) -> None:
    """Refuses what must not be served. uvicorn is given no TLS arguments: each connection's
    TLS is done by its protocol (server/handshake.py), so that the connection cap and a
    handshake deadline apply from accept."""
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        if not (settings.is_development or settings.behind_tls_proxy or _loopback(host)):
            raise ConfigurationError(f"--host {host}", [
                "plain HTTP on a non-loopback address is refused outside development (CDS Hooks "
                "requires TLS): set CDS_TLS_CERT_FILE and CDS_TLS_KEY_FILE to serve HTTPS, or "
                "CDS_BEHIND_TLS_PROXY=true if a TLS-terminating proxy is in front"])
        return
    try:  # load once here, so a bad file stops start-up with a message, not a worker traceback
        server_context(str(settings.tls_cert_file), str(settings.tls_key_file))
    except EncryptedKey:
        raise ConfigurationError("CDS_TLS_KEY_FILE", [
            f"{settings.tls_key_file} is encrypted (it needs a passphrase, and serve never asks "
            "for one); expected an unencrypted PEM private key, e.g. from "
            "`openssl pkey -in encrypted.key -out plain.key`, readable by the service only"]) \
            from None
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError("CDS_TLS_CERT_FILE, CDS_TLS_KEY_FILE", [
            f"cannot use {settings.tls_cert_file} and {settings.tls_key_file}: "
            f"{getattr(exc, 'reason', None) or exc.strerror or exc}; expected a PEM "
            "certificate (chain) and its unencrypted PEM private key"]) from None


class EncryptedKey(Exception):
    """The private key asks for a passphrase."""


def server_context(certfile: str, keyfile: str) -> ssl.SSLContext:
    """The minimum version pinned, not left to the Python build's or OpenSSL's defaults; ALPN
    offers HTTP/1.1, the one protocol served."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = MINIMUM_VERSION
    context.set_alpn_protocols(["http/1.1"])
    # Without a password callback OpenSSL would prompt on the terminal for an encrypted key, and
    # a service started by hand would hang there; the callback's exception comes back out of
    # load_cert_chain instead.
    context.load_cert_chain(certfile, keyfile, password=_no_passphrase)
    return context


def _no_passphrase() -> str:
    raise EncryptedKey


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve to any interface


class HTTPSBanner(logging.Filter):
    """uvicorn names the scheme of its start-up line ("Uvicorn running on http://...") from its
    own TLS settings, which ``serve`` no longer gives it: the line says https when we serve it."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if str(record.msg).startswith("Uvicorn running on %s://") and isinstance(args, tuple) \
                and args and args[0] == "http":
            record.args = ("https", *args[1:])
        return True
