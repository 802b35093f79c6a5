"""The self-signed local CA and server certificate."""

from __future__ import annotations

import ipaddress
import ssl
import stat
from pathlib import Path

from cryptography import x509

from acp.server.tls import ensure_self_signed


def _names(path: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(n.value) for n in san}


def test_creates_a_ca_and_a_server_certificate_for_the_names(tmp_path: Path) -> None:
    files = ensure_self_signed(tmp_path / "tls", ["registry.local", "localhost", "127.0.0.1"])
    assert _names(files.server_cert) == {"registry.local", "localhost", "127.0.0.1"}
    assert stat.S_IMODE(files.server_key.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "tls" / "ca.key").stat().st_mode) == 0o600
    # The server certificate verifies against the CA, as a client would check it.
    context = ssl.create_default_context(cafile=str(files.ca_cert))
    context.load_cert_chain(files.server_cert, files.server_key)
    ip = x509.load_pem_x509_certificate(files.server_cert.read_bytes()).extensions
    assert ipaddress.ip_address("127.0.0.1") in ip.get_extension_for_class(
        x509.SubjectAlternativeName
    ).value.get_values_for_type(x509.IPAddress)


def test_restart_keeps_the_ca_and_certificate(tmp_path: Path) -> None:
    first = ensure_self_signed(tmp_path, ["localhost"])
    ca, cert = first.ca_cert.read_bytes(), first.server_cert.read_bytes()
    second = ensure_self_signed(tmp_path, ["localhost"])
    assert second.ca_cert.read_bytes() == ca
    assert second.server_cert.read_bytes() == cert


def test_new_names_reissue_the_server_certificate_under_the_same_ca(tmp_path: Path) -> None:
    first = ensure_self_signed(tmp_path, ["localhost"])
    ca = first.ca_cert.read_bytes()
    second = ensure_self_signed(tmp_path, ["localhost", "10.0.0.5"])
    assert second.ca_cert.read_bytes() == ca
    assert _names(second.server_cert) == {"localhost", "10.0.0.5"}
