"""RSA key pairs made in the test, standing for a merchant's and a payment provider's keys."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


@dataclass(frozen=True)
class KeyPair:
    private: rsa.RSAPrivateKey
    private_pem: str  # PKCS#8, as both providers' tools write it
    public_pem: str  # SubjectPublicKeyInfo


@lru_cache(maxsize=4)
def key_pair(name: str) -> KeyPair:
    """One 2048-bit pair per name for the whole test run (generating is the slow part)."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()).decode("ascii")
    public_pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")
    return KeyPair(private, private_pem, public_pem)
