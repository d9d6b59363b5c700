"""Tokens at rest: Fernet with rotation (first key encrypts, every key decrypts)."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class TokenCipher:
    def __init__(self, keys: list[str]) -> None:
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def encrypt(self, plaintext: bytes) -> bytes:
        return self._fernet.encrypt(plaintext)

    def decrypt(self, ciphertext: bytes) -> bytes | None:
        """None when no configured key opens it (a key was retired too early)."""
        try:
            return self._fernet.decrypt(ciphertext)
        except InvalidToken:
            return None

    def rotate(self, ciphertext: bytes) -> bytes:
        return self._fernet.rotate(ciphertext)
