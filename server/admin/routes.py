"""The admin's pages (/admin) and JSON API (/api/admin); both need role admin."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, UploadFile
from fastapi.responses import Response
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from assistant.accounts import record_audit
from assistant.knowledge import Knowledge
from intents.ids import ESSENTIAL
from knowledge_base.answer_templates import ACCOUNT_FIELDS, GENERAL_FIELDS
from knowledge_base.intent_schema import FIELD_LABELS, ID_PATTERN, check_intent, example_conflicts, problem
from knowledge_base.knowledge_version import bump_knowledge_version
from knowledge_base.models import Intent, service_tz, utc_now
from server.admin.records import (
    ACTION_LABELS,
    ENTITY_LABELS,
    STALE_MESSAGE,
    audit_entries,
    compare_and_set,
    get_intent_or_404,
    intent_record,
    intent_summary,
    intent_view,
    search_intents,
)
from server.admin.schemas import (
    AuditEntry,
    CandidateView,
    ImportResult,
    IntentCreate,
    IntentSummary,
    IntentUpdate,
    IntentView,
    TryRequest,
    TryResult,
    VersionBody,
)
from server.admin.audit_diff import changed_lines
from server.admin.yaml_files import export_yaml, parse_import
from server.deps import DbSession, KnowledgeDep
from server.login import AdminLogin, Login, csrf_protect, require_admin
from server.pages import render

MAX_IMPORT_BYTES = 1_000_000


def _reject(errors: list[dict[str, Any]]) -> None:
    if errors:
        raise HTTPException(status_code=422, detail=errors)


def _publish(db: Session, knowledge: Knowledge) -> None:
    """Commit the change with its audit rows and move the knowledge version: every worker reloads on its next turn."""
    bump_knowledge_version(db)
    db.commit()
    knowledge.reload()


pages = APIRouter(prefix="/admin", include_in_schema=False)
api = APIRouter(prefix="/api/admin", tags=["管理"],
                dependencies=[Depends(require_admin), Depends(csrf_protect)])


@pages.get("")
def intents_page(request: Request, login: AdminLogin, db: DbSession,
                 q: Annotated[str, Query(max_length=100)] = "") -> Response:
    rows = search_intents(db, q)
    return render(request, "admin/intents.html", {"intents": [intent_summary(r) for r in rows], "q": q,
                                                  "essential": ESSENTIAL}, login=login)


def _form_page(request: Request, login: Login, intent: IntentView | None) -> Response:
    """The create/edit form; it lists the template fields an answer may use."""
    return render(request, "admin/intent_form.html", {
        "intent": intent, "labels": FIELD_LABELS, "general_fields": sorted(GENERAL_FIELDS),
        "account_fields": sorted(ACCOUNT_FIELDS - GENERAL_FIELDS),
    }, login=login)


@pages.get("/intents/new")
def new_intent_page(request: Request, login: AdminLogin) -> Response:
    return _form_page(request, login, None)


@pages.get("/intents/{intent_id}")
def edit_intent_page(request: Request, login: AdminLogin, db: DbSession, intent_id: str) -> Response:
    return _form_page(request, login, intent_view(get_intent_or_404(db, intent_id)))


@pages.get("/audit")
def audit_page(request: Request, login: AdminLogin, db: DbSession,
               entity_id: Annotated[str, Query(max_length=64)] = "") -> Response:
    return render(request, "admin/audit.html", {"entries": audit_entries(db, entity_id or None, 200),
                                                "entity_id": entity_id, "action_labels": ACTION_LABELS,
                                                "entity_labels": ENTITY_LABELS, "changed_lines": changed_lines},
                  login=login)


@api.get("/intents", response_model=list[IntentSummary])
def list_intents(db: DbSession, q: Annotated[str, Query(max_length=100)] = "") -> list[IntentSummary]:
    return [intent_summary(row) for row in search_intents(db, q)]


@api.get("/intents/{intent_id}", response_model=IntentView)
def get_intent(db: DbSession, intent_id: str) -> IntentView:
    return intent_view(get_intent_or_404(db, intent_id))


@api.post("/intents", response_model=IntentView, status_code=201)
def create_intent(body: IntentCreate, login: AdminLogin, db: DbSession, knowledge: KnowledgeDep) -> IntentView:
    intent_id = body.id.strip()
    values, errors = check_intent(intent_id, body)
    if ID_PATTERN.match(intent_id) and db.get(Intent, intent_id) is not None:
        errors.append(problem("id", f"编号 {intent_id} 已经有了，请换一个，或者去修改原来那个。"))
    _reject(errors + example_conflicts(values["examples"], intent_id, list(db.exec(select(Intent)))))
    row = Intent(id=intent_id, **values, origin="admin", updated_at=utc_now())
    db.add(row)
    try:
        db.flush()
    except IntegrityError:
        db.rollback()
        _reject([problem("id", f"编号 {intent_id} 刚被别人用了，请换一个。")])
    record_audit(db, login.name, "intent", intent_id, "create", None, intent_record(row))
    _publish(db, knowledge)
    return intent_view(row)


@api.put("/intents/{intent_id}", response_model=IntentView)
def update_intent(intent_id: str, body: IntentUpdate, login: AdminLogin, db: DbSession,
                  knowledge: KnowledgeDep) -> IntentView:
    row = get_intent_or_404(db, intent_id)
    if row.version != body.version:
        raise HTTPException(status_code=409, detail=STALE_MESSAGE)
    values, errors = check_intent(intent_id, body)
    _reject(errors + example_conflicts(values["examples"], intent_id, list(db.exec(select(Intent)))))
    before = intent_record(row)
    compare_and_set(db, row, body.version, values)
    record_audit(db, login.name, "intent", intent_id, "update", before, intent_record(row))
    _publish(db, knowledge)
    return intent_view(row)


def _set_enabled(intent_id: str, body: VersionBody, enabled: bool, login: Login, db: Session,
                 knowledge: KnowledgeDep) -> IntentView:
    row = get_intent_or_404(db, intent_id)
    if not enabled and intent_id in ESSENTIAL:
        raise HTTPException(status_code=422, detail=[problem(
            "enabled", "这是基本功能（转人工、紧急情况、再说一遍等），不能停用；可以修改它的内容。")])
    if row.version != body.version:
        raise HTTPException(status_code=409, detail=STALE_MESSAGE)
    before = intent_record(row)
    compare_and_set(db, row, body.version, {"enabled": enabled})
    record_audit(db, login.name, "intent", intent_id, "enable" if enabled else "disable", before,
                 intent_record(row))
    _publish(db, knowledge)
    return intent_view(row)


@api.post("/intents/{intent_id}/disable", response_model=IntentView)
def disable_intent(intent_id: str, body: VersionBody, login: AdminLogin, db: DbSession,
                   knowledge: KnowledgeDep) -> IntentView:
    return _set_enabled(intent_id, body, False, login, db, knowledge)


@api.post("/intents/{intent_id}/enable", response_model=IntentView)
def enable_intent(intent_id: str, body: VersionBody, login: AdminLogin, db: DbSession,
                  knowledge: KnowledgeDep) -> IntentView:
    return _set_enabled(intent_id, body, True, login, db, knowledge)


@api.post("/try", response_model=TryResult)
def try_phrase(body: TryRequest, request: Request, knowledge: KnowledgeDep) -> TryResult:
    """What a customer who opens with this phrase at the kiosk is shown and hears, and how it was matched.

    The reply is the kiosk's own first turn (``ConversationService.preview``: the same matcher,
    policy and answer, nothing written), so "您是想问…吗？" shows whenever the kiosk would confirm; the
    admin page used to show the intent's answer even then. The candidates are the matcher's ranking."""
    said = request.app.state.services.conversations.preview(body.text)
    match = knowledge.matcher.match(body.text)
    titles = {intent_id: answers.title for intent_id, answers in knowledge.snapshot.answers.items()}
    return TryResult(
        text=match.text, normalized=match.normalized, intent=match.intent, confidence=match.confidence,
        decision=str(match.decision),
        candidates=[CandidateView(intent=c.intent, title=titles.get(c.intent, c.intent), score=c.score)
                    for c in match.candidates],
        answer=said.text, spoken=said.spoken, choices=[choice["title"] for choice in said.choices],
    )


@api.get("/export/intents.yaml")
def export_intents(db: DbSession) -> Response:
    body = export_yaml(list(db.exec(select(Intent).order_by(Intent.id))))
    stamp = utc_now().astimezone(service_tz()).strftime("%Y%m%d-%H%M")
    return Response(body, media_type="application/yaml; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="intents-{stamp}.yaml"'})


@api.post("/import/intents", response_model=ImportResult)
def import_intents(file: UploadFile, login: AdminLogin, db: DbSession, knowledge: KnowledgeDep) -> ImportResult:
    """Create or update the file's intents, all or nothing; intents not in the file are left alone.

    Import is a deliberate overwrite, so it does not check versions; every
    intent it changes is audited as "import" with its before and after.
    """
    raw = file.file.read(MAX_IMPORT_BYTES + 1)
    if len(raw) > MAX_IMPORT_BYTES:
        raise HTTPException(status_code=413, detail=f"文件太大了，最多 {MAX_IMPORT_BYTES // 1_000_000} MB。")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise HTTPException(status_code=422, detail=[problem("file", "文件要用 UTF-8 编码保存。")]) from None
    existing = {row.id: row for row in db.exec(select(Intent))}
    parsed, errors = parse_import(text, list(existing.values()))
    _reject(errors)
    created, updated = [], []
    for item in parsed:
        intent_id, values = item.id, item.row_values()
        row = existing.get(intent_id)
        if row is None:
            row = Intent(id=intent_id, **values, origin="admin", updated_at=utc_now())
            db.add(row)
            db.flush()
            record_audit(db, login.name, "intent", intent_id, "import", None, intent_record(row))
            created.append(intent_id)
        elif any(getattr(row, key) != value for key, value in values.items()):
            before = intent_record(row)
            compare_and_set(db, row, row.version, values)
            record_audit(db, login.name, "intent", intent_id, "import", before, intent_record(row))
            updated.append(intent_id)
    _publish(db, knowledge)
    return ImportResult(created=created, updated=updated, unchanged=len(parsed) - len(created) - len(updated))


@api.get("/audit", response_model=list[AuditEntry])
def list_audit(db: DbSession, entity_id: Annotated[str, Query(max_length=64)] = "",
               limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[AuditEntry]:
    return audit_entries(db, entity_id or None, limit)


router = APIRouter()
router.include_router(pages)
router.include_router(api)
