"""TLS: redis-py's ssl=True and ssl_* options, as the engine takes them.

The engine speaks TLS with Go's crypto/tls over its own blocking sockets
(cpipe/engine/tls_*.go); this module turns redis-py's options into the
engine's TLSSettings (JSON, read by cpipe/main.go) and checks them first,
so that a bad option is refused when the client is made, naming it, before
anything is sent:

- the certificate files and CA data are loaded with Python's ssl module, as
  redis-py would load them at its first connect (a missing file, a wrong
  ssl_password, a key that does not match its certificate: an
  InvalidOptionError now rather than a ConnectionError later);
- options the engine cannot honour (OCSP, cipher strings in OpenSSL's
  syntax, verify flags, an encrypted PKCS#8 key) are refused by name,
  never ignored.

Defaults (ssl_cert_reqs, ssl_check_hostname) are the running redis-py's, read
from its SSLConnection's signature: ssl_check_hostname became True in
redis-py 6.
"""
from __future__ import annotations

import inspect
import json
import ssl
from typing import Any, Optional

from ._options import InvalidOptionError

# What the engine honours; also what is handed to redis-py's SSLConnection
# for the connections redis-py still makes (a forked child's, MONITOR).
SUPPORTED = (
    "ssl_keyfile", "ssl_certfile", "ssl_cert_reqs", "ssl_ca_certs", "ssl_ca_data", "ssl_ca_path",
    "ssl_check_hostname", "ssl_min_version", "ssl_password",
)

# redis-py options the engine does not do; each is refused unless it has
# its "off" value.
_UNSUPPORTED = {
    "ssl_validate_ocsp": "OCSP validation is not done by cpipe's engine",
    "ssl_validate_ocsp_stapled": "OCSP validation is not done by cpipe's engine",
    "ssl_ocsp_context": "OCSP validation is not done by cpipe's engine",
    "ssl_ocsp_expected_cert": "OCSP validation is not done by cpipe's engine",
    "ssl_ciphers": "the engine uses Go's crypto/tls cipher suites, which take no OpenSSL cipher string",
    "ssl_include_verify_flags": "OpenSSL verify flags do not apply to Go's crypto/tls",
    "ssl_exclude_verify_flags": "OpenSSL verify flags do not apply to Go's crypto/tls",
}

_CERT_REQS = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}


def _redis_py_defaults() -> dict[str, Any]:
    try:
        from redis.connection import SSLConnection

        params = inspect.signature(SSLConnection.__init__).parameters
    except (ImportError, ValueError, TypeError):  # pragma: no cover - every supported redis-py has it
        return {}
    return {name: p.default for name, p in params.items() if name.startswith("ssl_")}


def _is_off(value: Any) -> bool:
    return value is None or value is False or value == [] or value == ()


def split_options(options: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
    """(ssl on?, the ssl_* options given) taken out of options (which loses them)."""
    on = options.pop("ssl", False)
    if not isinstance(on, bool):
        raise InvalidOptionError(f"ssl must be True or False, not {on!r}")
    given = {name: options.pop(name) for name in list(options) if name.startswith("ssl_")}
    return on, given


def tls_settings(on: bool, given: dict[str, Any], unix_socket_path: Optional[str]) -> tuple[Optional[str], dict[str, Any]]:
    """The engine's TLS settings (JSON; None: plaintext) and the ssl_* options
    for redis-py's SSLConnection, from ssl= and the ssl_* options given.

    As redis-py does, the ssl_* options mean nothing without ssl=True; they
    are still checked by name, so a misspelt one is a TypeError either way.
    """
    defaults = _redis_py_defaults()
    for name in given:
        if name not in defaults and name not in SUPPORTED:
            raise TypeError(f"unexpected keyword argument {name!r} (not an ssl option of redis-py {_version()})")
    if not on:
        return None, {}
    if unix_socket_path:
        raise InvalidOptionError("ssl=True with unix_socket_path: TLS is for TCP connections "
                                 "(redis-py ignores ssl= on a unix socket; cpipe refuses it rather than connect in plaintext)")
    for name, why in _UNSUPPORTED.items():
        if name in given and not _is_off(given[name]):
            raise InvalidOptionError(f"{name}={given[name]!r} is not supported by cpipe: {why}")
    opts = {name: given.get(name, defaults.get(name)) for name in SUPPORTED}
    verify = _cert_reqs(opts["ssl_cert_reqs"]) != ssl.CERT_NONE
    check_hostname = opts["ssl_check_hostname"]
    if not isinstance(check_hostname, bool):
        raise InvalidOptionError(f"ssl_check_hostname must be True or False, not {check_hostname!r}")
    settings = {
        "certfile": _path("ssl_certfile", opts["ssl_certfile"]),
        "keyfile": _path("ssl_keyfile", opts["ssl_keyfile"]),
        "password": _password(opts["ssl_password"]),
        "ca_certs": _path("ssl_ca_certs", opts["ssl_ca_certs"]),
        "ca_path": _path("ssl_ca_path", opts["ssl_ca_path"]),
        "ca_data": _ca_data(opts["ssl_ca_data"]),
        "verify": verify,
        # redis-py: no hostname check when certificates are not verified.
        "check_hostname": verify and check_hostname,
        "min_version": _min_version(opts["ssl_min_version"]),
    }
    _load_like_redis_py(settings)
    redis_py = {name: given[name] for name in SUPPORTED if name in given}
    return json.dumps(settings), redis_py


def _version() -> str:
    import redis

    return redis.__version__


def _cert_reqs(value: Any) -> int:
    if value is None:
        return ssl.CERT_NONE  # as redis-py reads None
    if isinstance(value, str):
        if value not in _CERT_REQS:
            raise InvalidOptionError(f"Invalid SSL Certificate Requirements Flag: {value} "
                                     f"(ssl_cert_reqs must be 'none', 'optional', 'required' or an ssl.CERT_* value)")
        return _CERT_REQS[value]
    if isinstance(value, int) and not isinstance(value, bool) and value in _CERT_REQS.values():
        return int(value)
    raise InvalidOptionError(f"ssl_cert_reqs must be 'none', 'optional', 'required' or an ssl.CERT_* value, not {value!r}")


def _path(name: str, value: Any) -> str:
    if value is None:
        return ""
    import os

    if not isinstance(value, (str, os.PathLike)):
        raise InvalidOptionError(f"{name} must be a path (str), not {value!r}")
    return os.fspath(value)  # type: ignore[return-value]


def _password(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, str):
        return value
    raise InvalidOptionError("ssl_password must be a str or bytes (a password callable is not supported by cpipe)")


def _ca_data(value: Any) -> str:
    """PEM text; DER bytes (one or more certificates, as ssl's cadata takes them) are converted."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise InvalidOptionError(f"ssl_ca_data must be PEM text (str) or DER bytes, not {type(value).__name__}")
    der = bytes(value)
    pems = []
    while der:
        size = _der_size(der)
        pems.append(ssl.DER_cert_to_PEM_cert(der[:size]))
        der = der[size:]
    return "".join(pems)


def _der_size(der: bytes) -> int:
    """The size of the DER SEQUENCE at the start of der."""
    if len(der) < 2 or der[0] != 0x30:
        raise InvalidOptionError("ssl_ca_data bytes are not DER certificates")
    if der[1] < 0x80:
        size = 2 + der[1]
    else:
        n = der[1] & 0x7F
        size = 2 + n + int.from_bytes(der[2:2 + n], "big")
    if size > len(der):
        raise InvalidOptionError("ssl_ca_data holds a truncated DER certificate")
    return size


def _min_version(value: Any) -> int:
    if value is None:
        return 0
    try:
        version = ssl.TLSVersion(value)
    except ValueError:
        raise InvalidOptionError(f"ssl_min_version must be an ssl.TLSVersion, not {value!r}") from None
    if version in (ssl.TLSVersion.MINIMUM_SUPPORTED, ssl.TLSVersion.MAXIMUM_SUPPORTED):
        return 0 if version is ssl.TLSVersion.MINIMUM_SUPPORTED else int(ssl.TLSVersion.TLSv1_3)
    if version < ssl.TLSVersion.TLSv1_2:
        raise InvalidOptionError(f"ssl_min_version={version!r} is not supported by cpipe: "
                                 "Go's crypto/tls speaks TLS 1.2 and 1.3")
    return int(version)  # 0x0303, 0x0304: the wire values, as Go's tls.VersionTLS12/13


def _load_like_redis_py(settings: dict[str, Any]) -> None:
    """Load the files and data with Python's ssl module, as redis-py would at
    its first connect, so that a bad one is refused now, by name."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if settings["certfile"]:
        keyfile = settings["keyfile"] or None
        try:
            ctx.load_cert_chain(settings["certfile"], keyfile, settings["password"] or None)
        except (OSError, ssl.SSLError) as exc:
            raise InvalidOptionError(f"ssl_certfile/ssl_keyfile cannot be loaded: {exc}") from None
        with open(keyfile or settings["certfile"], "rb") as f:
            if b"BEGIN ENCRYPTED PRIVATE KEY" in f.read():
                raise InvalidOptionError(
                    "ssl_keyfile holds an encrypted PKCS#8 key, which cpipe's engine (Go's crypto/tls) cannot "
                    "decrypt: re-encrypt it the legacy PEM way (openssl rsa -aes256 -traditional ...) or decrypt it")
    elif settings["keyfile"]:
        raise InvalidOptionError("ssl_keyfile needs ssl_certfile")
    if settings["ca_certs"] or settings["ca_path"] or settings["ca_data"]:
        try:
            ctx.load_verify_locations(settings["ca_certs"] or None, settings["ca_path"] or None,
                                      settings["ca_data"] or None)
        except (OSError, ssl.SSLError) as exc:
            raise InvalidOptionError(f"ssl_ca_certs/ssl_ca_path/ssl_ca_data cannot be loaded: {exc}") from None
