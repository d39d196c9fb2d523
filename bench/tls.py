"""The bench's own certificate authority and a server certificate for 127.0.0.1.

Made fresh for each run with ``trustme`` (a throwaway CA, never trusted outside
the run). Clients trust it through ``SSL_CERT_FILE``, which OpenSSL's default
verify paths honour (aiohttp's default context, httpx with ``trust_env``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class Certificates:
    ca: Path  #: the CA's certificate (PEM): what clients trust
    cert: Path  #: the server's certificate chain (PEM)
    key: Path  #: the server's private key (PEM)


def make_certificates(folder: Path) -> Certificates:
    """Write a new CA and a server certificate for ``127.0.0.1`` into ``folder``."""
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    paths = Certificates(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    ca.cert_pem.write_to_path(str(paths.ca))
    leaf.private_key_pem.write_to_path(str(paths.key))
    with paths.cert.open("wb") as out:
        for blob in leaf.cert_chain_pems:
            out.write(blob.bytes())
    return paths
