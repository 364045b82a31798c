"""Identity at the edge: one-time codes, verification attempts and 户号 look-ups in the database.

The policy (``assistant.dialogue``) decides who must prove what; this module keeps the
records it relies on: codes are stored only as a hash, expire, and count failed tries;
look-ups are counted per client so 户号 cannot be enumerated.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta, timezone

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from assistant.dialogue import CODE_DIGITS, IdentityLimits, Verified
from knowledge_base.settings import Settings
from knowledge_base.db import session
from knowledge_base.models import AccountLookup, VerificationCode

WINDOW = timedelta(hours=1)  # the limits on look-ups and failed verifications are per hour
# Codes go to a real person's phone: whoever knows a 户号 must not be able to flood it.
MAX_CODES_PER_ACCOUNT_HOUR = 5
MIN_SECONDS_BETWEEN_CODES = 60


def limits_from(settings: Settings) -> IdentityLimits:
    return IdentityLimits(
        max_accounts_per_conversation=settings.max_accounts_per_conversation,
        max_accounts_per_client_hour=settings.max_accounts_per_client_hour,
        max_verification_failures=settings.max_verification_failures,
        code_minutes=settings.verification_code_minutes,
    )


def _code_hash(session_id: str, account: str, code: str) -> str:
    # Bound to the conversation and account, so a code is worth nothing anywhere else.
    return hashlib.sha256(f"{session_id}\n{account}\n{code}".encode()).hexdigest()


def may_send_code(db: Session, account: str, now: datetime) -> bool:
    """Whether another code may go to this account's phone now (per account, whoever asks)."""
    now = _utc(now)
    sent = [_utc(at) for at in db.exec(select(VerificationCode.created_at).where(
        VerificationCode.account_number == account, VerificationCode.purpose != Verified.FALLBACK.value,
        col(VerificationCode.created_at) > now - WINDOW))]
    if len(sent) >= MAX_CODES_PER_ACCOUNT_HOUR:
        return False
    return not sent or (now - max(sent)).total_seconds() >= MIN_SECONDS_BETWEEN_CODES


def issue_code(db: Session, session_id: str, account: str, purpose: str, now: datetime, minutes: int) -> str:
    """A new code for this conversation; only its hash is kept. Returns the code to send."""
    now = _utc(now)
    code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
    db.add(VerificationCode(session_id=session_id, account_number=account, purpose=purpose,
                            code_hash=_code_hash(session_id, account, code), created_at=now,
                            expires_at=now + timedelta(minutes=minutes)))
    return code


def _latest_code(db: Session, session_id: str, account: str) -> VerificationCode | None:
    return db.exec(select(VerificationCode).where(
        VerificationCode.session_id == session_id, VerificationCode.account_number == account,
        VerificationCode.purpose != Verified.FALLBACK.value,
    ).order_by(col(VerificationCode.id).desc())).first()


def code_matches(engine: Engine, session_id: str, account: str, code: str, now: datetime,
                 max_failures: int) -> bool:
    with session(engine) as db:
        row = _latest_code(db, session_id, account)
    if row is None or row.used_at is not None or row.attempts >= max_failures:
        return False
    if _utc(row.expires_at) <= _utc(now):
        return False
    return hmac.compare_digest(row.code_hash, _code_hash(session_id, account, code))


def record_attempt(db: Session, session_id: str, account: str, method: Verified, ok: bool, now: datetime) -> None:
    """Count a failed try (``attempts``), or use the code up on success."""
    now = _utc(now)
    if method == Verified.CODE:
        row = _latest_code(db, session_id, account)
        if row is None:
            return
        if ok:
            row.used_at = now
        else:
            row.attempts += 1
        db.add(row)
    elif not ok:
        # The fallback has no code; its failures are kept the same way so they count alike.
        db.add(VerificationCode(session_id=session_id, account_number=account, purpose=Verified.FALLBACK.value,
                                code_hash="", created_at=now, expires_at=now, attempts=1))


def verification_failures(engine: Engine, account: str, now: datetime) -> int:
    with session(engine) as db:
        total = db.exec(select(func.coalesce(func.sum(VerificationCode.attempts), 0)).where(
            VerificationCode.account_number == account, VerificationCode.created_at >= _utc(now) - WINDOW)).one()
    return int(total)


def record_lookup(db: Session, client: str, session_id: str, account: str, now: datetime) -> None:
    db.add(AccountLookup(client=client, session_id=session_id, account_number=account, at=_utc(now)))


def client_accounts(engine: Engine, client: str, now: datetime) -> frozenset[str]:
    with session(engine) as db:
        numbers = db.exec(select(AccountLookup.account_number).where(
            AccountLookup.client == client, AccountLookup.at >= _utc(now) - WINDOW).distinct()).all()
    return frozenset(numbers)


def _utc(moment: datetime) -> datetime:
    # Every time here is written and compared in UTC; SQLite hands them back without a zone.
    return moment.astimezone(timezone.utc) if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
