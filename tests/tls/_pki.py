"""Certificates for the TLS tests, made with the openssl command line.

A CA; a server certificate for 127.0.0.1 and localhost (subjectAltName,
as hostname checks read it); a client certificate signed by the same CA;
an unrelated CA (the "wrong CA"); and the client key encrypted the legacy
PEM way (for ssl_password).
"""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass

PASSWORD = "s3cret"


@dataclass(frozen=True)
class PKI:
    dir: str
    ca: str
    ca_dir: str  # a directory holding the CA (ssl_ca_path)
    other_ca: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str
    client_key_encrypted: str


def _run(*args: str, cwd: str) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _ca(d: str, name: str) -> None:
    _run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
         "-keyout", f"{name}.key", "-out", f"{name}.pem", cwd=d)


def _leaf(d: str, name: str, ext: str) -> None:
    with open(os.path.join(d, f"{name}.ext"), "w") as f:
        f.write(ext)
    _run("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}.key",
         "-out", f"{name}.csr", cwd=d)
    _run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
         "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem", cwd=d)


def make_pki(d: str) -> PKI:
    _ca(d, "ca")
    _ca(d, "other-ca")
    _leaf(d, "server", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    _leaf(d, "client", "extendedKeyUsage=clientAuth\n")
    _run("rsa", "-in", "client.key", "-aes256", "-traditional", "-passout", f"pass:{PASSWORD}",
         "-out", "client-encrypted.key", cwd=d)
    ca_dir = os.path.join(d, "cadir")
    os.mkdir(ca_dir)
    _run("x509", "-in", "ca.pem", "-out", os.path.join(ca_dir, "ca.pem"), cwd=d)
    _run("rehash", ca_dir, cwd=d)  # OpenSSL's capath lookup (redis-py) needs the hash links
    j = lambda n: os.path.join(d, n)  # noqa: E731
    return PKI(dir=d, ca=j("ca.pem"), ca_dir=ca_dir, other_ca=j("other-ca.pem"),
               server_cert=j("server.pem"), server_key=j("server.key"),
               client_cert=j("client.pem"), client_key=j("client.key"),
               client_key_encrypted=j("client-encrypted.key"))
