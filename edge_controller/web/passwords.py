"""Console passwords: scrypt hashes (``scrypt$n$r$p$salt$hash``, base64), compared in constant
time. ``edge-controller web-password`` writes one for a password file."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

N, R, P = 2**14, 8, 1  # about 16 MiB and a few tens of ms per check
SALT_BYTES, KEY_BYTES = 16, 32
_MAX_N = 2**20  # a hash asking for more memory than this is refused, not computed


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    key = hashlib.scrypt(password.encode(), salt=salt, n=N, r=R, p=P, dklen=KEY_BYTES)
    b64 = base64.b64encode
    return f"scrypt${N}${R}${P}${b64(salt).decode()}${b64(key).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, key = stored.split("$")
        n_i, r_i, p_i = int(n), int(r), int(p)
        expected = base64.b64decode(key, validate=True)
        salt_b = base64.b64decode(salt, validate=True)
    except ValueError:
        return False
    if kind != "scrypt" or not 1 < n_i <= _MAX_N or r_i > 32 or p_i > 16:
        return False
    given = hashlib.scrypt(
        password.encode(), salt=salt_b, n=n_i, r=r_i, p=p_i, dklen=len(expected),
        maxmem=256 * 1024 * 1024,
    )  # fmt: skip
    return hmac.compare_digest(given, expected)
