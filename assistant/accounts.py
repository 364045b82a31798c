"""Accounts of admins and staff: users, roles, password hashing, and the audit trail of changes.

Used by the service's login pages (``server.auth``) and by ``xiaodian users``
alike, so an operator can add an account before the server ever ran.

Passwords are hashed with argon2id and never stored or logged in clear
(the one exception is the generated first-admin password, printed once to
the console so the operator can log in, and which must be replaced at the
first login).
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from knowledge_base.db import session
from knowledge_base.models import AuditLog, LoginSession, User

# reviewer (issue 15): the quality-review pages only; never intents or users.
ROLES = ("admin", "staff", "reviewer")
ROLE_LABELS = {"admin": "管理员", "staff": "客服", "reviewer": "质检员"}
FIRST_ADMIN_NAME = "admin"
MIN_PASSWORD_LENGTH = 10
# No 0/O, 1/l/I: the generated password is read off a console and typed by hand.
_PASSWORD_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
_NAME_PATTERN = re.compile(r"^[^\s\x00-\x1f]{1,32}$")

_hasher = PasswordHasher()
# Checked against when the name is unknown, so a wrong name takes as long as a wrong password.
_UNKNOWN_USER_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """A request about accounts that cannot be done; the message is for the operator."""


def generate_password(length: int = 16) -> str:
    """A strong random password (about 93 bits) that is easy to copy by hand."""
    return "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(length))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(user: User | None, password: str) -> bool:
    """The password is this user's; with no such user, as slow as a real check, and False."""
    try:
        valid = _hasher.verify(user.password_hash if user else _UNKNOWN_USER_HASH, password)
    except (VerificationError, InvalidHashError):
        valid = False
    return valid and user is not None


def needs_rehash(password_hash: str) -> bool:
    """The hash was made with weaker parameters than today's: replace it at the next login."""
    return _hasher.check_needs_rehash(password_hash)


def _check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"密码至少要 {MIN_PASSWORD_LENGTH} 位。")


def user_record(user: User) -> dict[str, Any]:
    """What the audit trail keeps of a user: never the password hash."""
    return {"name": user.name, "role": user.role, "disabled": user.disabled}


def record_audit(db: Session, actor: str, entity: str, entity_id: str, action: str,
                 before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
    """Add one audit row to the caller's transaction, so the change and its record commit together."""
    db.add(AuditLog(actor=actor, entity=entity, entity_id=entity_id, action=action, before=before, after=after))


def create_user(engine: Engine, name: str, role: str, password: str, actor: str = "system",
                must_change_password: bool = False) -> User:
    name = name.strip()
    if not _NAME_PATTERN.match(name):
        raise AccountError("用户名要 1 到 32 个字，不能有空格。")
    if role not in ROLES:
        raise AccountError("角色只能是 admin（管理员）、staff（客服）或 reviewer（质检员）。")
    _check_new_password(password)
    user = User(name=name, role=role, password_hash=hash_password(password),
                must_change_password=must_change_password)
    with session(engine) as db:
        db.add(user)
        try:
            db.flush()
        except IntegrityError:
            raise AccountError(f"用户 {name} 已经存在。") from None
        record_audit(db, actor, "user", name, "create", None, user_record(user))
        db.commit()
    return user


def set_password(engine: Engine, name: str, password: str, actor: str = "system") -> None:
    """Change a password and end the user's sessions (a leaked password stops working everywhere).

    A password set here is one a person chose (or handed over in person), so a first
    admin's duty to replace the generated one is done.
    """
    _check_new_password(password)
    with session(engine) as db:
        user = db.exec(select(User).where(User.name == name)).first()
        if user is None:
            raise AccountError(f"没有用户 {name}。")
        user.password_hash = hash_password(password)
        user.must_change_password = False
        db.exec(delete(LoginSession).where(col(LoginSession.user_id) == user.id))
        record_audit(db, actor, "user", name, "password", None, None)
        db.commit()


def list_users(engine: Engine) -> list[User]:
    with session(engine) as db:
        return list(db.exec(select(User).order_by(User.name)))


def ensure_first_admin(engine: Engine) -> str | None:
    """Create user "admin" with a random password when there is no admin; return the password.

    Returns None when an admin already exists (or another process made one
    at the same moment), so the password is printed on first start only.
    The password was shown on a console, so it must be replaced at first login.
    """
    with session(engine) as db:
        if db.exec(select(User.id).where(User.role == "admin")).first() is not None:
            return None
    password = generate_password()
    try:
        create_user(engine, FIRST_ADMIN_NAME, "admin", password, must_change_password=True)
    except AccountError:
        return None
    return password
