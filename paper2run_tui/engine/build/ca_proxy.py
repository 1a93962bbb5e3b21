"""The CA bundle and proxies a build needs behind a TLS-intercepting proxy (corporate laptops, these CI machines)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ..errors import UserError

CA_ENV_VARS = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "PIP_CERT")
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")


def _looks_like_pem(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 20)
    except OSError:
        return False
    return b"-----BEGIN CERTIFICATE-----" in head


def detect_ca_bundle(explicit: Path | None, env: Mapping[str, str]) -> Path | None:
    """--ca-cert first (an error if unusable), then SSL_CERT_FILE, REQUESTS_CA_BUNDLE, PIP_CERT (skipped if unusable)."""
    if explicit is not None:
        path = explicit.expanduser()
        if not path.is_file():
            raise UserError(f"--ca-cert {path} does not exist", "give the path of a PEM CA bundle")
        if not _looks_like_pem(path):
            raise UserError(f"--ca-cert {path} is not a PEM certificate bundle", "export the CA as PEM (BEGIN CERTIFICATE)")
        return path
    for var in CA_ENV_VARS:
        value = env.get(var)
        if value and Path(value).is_file() and _looks_like_pem(Path(value)):
            return Path(value)
    return None


def proxy_build_args(env: Mapping[str, str]) -> dict[str, str]:
    """The proxy variables that are set, passed to `docker build` as build args (Docker predefines these ARGs)."""
    return {var: env[var] for var in PROXY_VARS if env.get(var)}
