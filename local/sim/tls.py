"""A serving certificate for the simulator's HTTPS port, made at start and trusted by its
kubeconfigs.

kubectl sends a kubeconfig's credentials only to an ``https://`` server, so a simulator whose
kubeconfig carries a token serves TLS too. :class:`ServingCertificate` is a self-signed ECDSA
certificate for the loopback address (a subject alternative name for the IP and
``localhost``), valid for a day, written to a private temporary directory so an
``ssl.SSLContext`` can load it, and removed by :meth:`ServingCertificate.remove`. Its PEM goes
into kubeconfigs as ``certificate-authority-data``. Makes files; opens no socket.
"""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import ssl
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


class ServingCertificate:
    """A self-signed certificate and key for ``host``, on disk until :meth:`remove`."""

    def __init__(self, host: str) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ferry-sim")])
        now = datetime.datetime.now(datetime.UTC)
        alternatives: list[x509.GeneralName] = [x509.DNSName("localhost")]
        try:
            alternatives.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alternatives.append(x509.DNSName(host))
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        self.pem = certificate.public_bytes(serialization.Encoding.PEM)
        self._dir = Path(tempfile.mkdtemp(prefix="ferry-sim-tls-"))
        self.cert_file = self._dir / "tls.crt"
        self.key_file = self._dir / "tls.key"
        self.cert_file.write_bytes(self.pem)
        self.key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        self.key_file.chmod(0o600)

    def context(self) -> ssl.SSLContext:
        """A server-side TLS context presenting this certificate."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def remove(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)
