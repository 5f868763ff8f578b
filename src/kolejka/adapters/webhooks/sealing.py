"""Sealing webhook secrets with KOLEJKA_WEBHOOK_KEY (ports.Sealer).

A subscription's Basic password and signing secret must be sent again with every request, so
they are encrypted, not hashed: Fernet (AES-128-CBC and HMAC-SHA256, from PyCA's `cryptography`,
the library Python's TLS tooling already builds on). The key is derived from the setting with
SHA-256, so any long random string will do; a database copied without the key holds no
usable credential.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken


class FernetSealer:
    def __init__(self, key: str) -> None:
        digest = hashlib.sha256(("kolejka webhooks\x00" + key).encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def seal(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode("ascii")

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode()
        except InvalidToken as error:
            raise ValueError("sealed with another key") from error
