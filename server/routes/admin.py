"""Admin: edit the FAQ intents live, try phrases, import/export YAML, read the audit trail.

Every change is checked (id pattern, at least 3 examples, answer templates
that only name fields the assistant can fill, as plain ``{field}`` with no
format spec, conversion, attribute or index, no example shared with another
intent), saved only if nobody saved in between (the form carries the
version; a stale one gets 409), audited with the record before and after,
and then the matcher is rebuilt, so the kiosk answers with the new text on
the very next question.

Pages live under /admin, their JSON API under /api/admin; both need role admin.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Depends, HTTPException, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from assistant.answers import parse_template
from intents import normalize
from knowledge_base.models import SERVICE_TZ, AuditLog, Intent, utc_now
from knowledge_base.seed import IntentSeed
from server.auth import record_audit
from server.deps import (
    AdminLogin,
    DbSession,
    KnowledgeDep,
    Login,
    as_utc,
    chinese_validation_errors,
    csrf_protect,
    render,
    require_admin,
)

ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
MIN_EXAMPLES = 3
MAX_IMPORT_BYTES = 1_000_000
STALE_MESSAGE = "这个意图刚被别人改过，请刷新后再改。"
# What the conversation needs to work at all: "a human is always reachable",
# emergencies get the safety message, "再说一遍/说慢点" always work.
ESSENTIAL_INTENTS = frozenset({"human_agent", "emergency", "repeat", "slower", "affirm", "deny", "none"})

# Template fields the assistant fills (see assistant.answers.template_fields).
GENERAL_FIELDS = frozenset({"tariff_summary", "estimate", "hall_name", "hall_address", "hall_hours", "hall_phone"})
ACCOUNT_FIELDS = GENERAL_FIELDS | {"account", "holder", "balance", "arrears", "bill_month", "bill_amount",
                                   "bill_kwh", "bill_due", "bill_status", "area", "outage_summary"}

FIELD_LABELS = {
    "id": "编号",
    "title": "标题",
    "description": "说明",
    "examples": "例句",
    "keywords": "关键词",
    "answer_display": "回答",
    "answer_spoken": "回答的朗读文字",
    "answer_account_display": "知道户号时的回答",
    "answer_account_spoken": "知道户号时的朗读文字",
    "action": "动作",
    "needs_account": "需要户号",
    "enabled": "启用",
    "version": "版本",
    "origin": "来源",
}
ACTION_LABELS = {"create": "新建", "update": "修改", "disable": "停用", "enable": "启用", "import": "导入",
                 "claim": "接手", "note": "备注", "close": "结束", "password": "改密码"}
ENTITY_LABELS = {"intent": "意图", "handoff_ticket": "转人工工单", "user": "账号"}

# The YAML of knowledge_base/data/intents.yaml names the answers differently from the table.
_YAML_TO_FIELD = {"answer": "answer_display", "spoken": "answer_spoken",
                  "answer_account": "answer_account_display", "spoken_account": "answer_account_spoken"}
_FIELD_TO_YAML = {field: key for key, field in _YAML_TO_FIELD.items()}


# --- API models -----------------------------------------------------------------------


class IntentFields(BaseModel):
    """What an admin edits. Loose on purpose: the checks below explain problems in Chinese."""

    title: str = Field("", max_length=200)
    description: str = Field("", max_length=1000)
    examples: list[str] = Field(default_factory=list, max_length=500)
    keywords: list[str] = Field(default_factory=list, max_length=200)
    answer_display: str = Field("", max_length=4000)
    answer_spoken: str | None = Field(None, max_length=4000)
    answer_account_display: str | None = Field(None, max_length=4000)
    answer_account_spoken: str | None = Field(None, max_length=4000)
    action: str = Field("", max_length=100)
    needs_account: bool = False


class IntentCreate(IntentFields):
    id: str = Field("", max_length=100)


class IntentUpdate(IntentFields):
    version: int  # the version the form was loaded with


class VersionBody(BaseModel):
    version: int


class IntentView(BaseModel):
    id: str
    title: str
    description: str
    examples: list[str]
    keywords: list[str]
    answer_display: str
    answer_spoken: str | None
    answer_account_display: str | None
    answer_account_spoken: str | None
    action: str
    needs_account: bool
    enabled: bool
    essential: bool
    origin: str
    version: int
    updated_at: datetime


class IntentSummary(BaseModel):
    id: str
    title: str
    enabled: bool
    origin: str
    version: int
    example_count: int
    updated_at: datetime


class TryRequest(BaseModel):
    text: str = Field(max_length=500)


class CandidateView(BaseModel):
    intent: str
    title: str
    score: float


class TryResult(BaseModel):
    text: str
    normalized: str
    intent: str
    confidence: float
    decision: str
    candidates: list[CandidateView]
    answer: str


class ImportResult(BaseModel):
    created: list[str]
    updated: list[str]
    unchanged: int


class AuditChange(BaseModel):
    field: str
    label: str
    before: Any
    after: Any


class AuditEntry(BaseModel):
    id: int
    at: datetime
    actor: str
    entity: str
    entity_id: str
    action: str
    changes: list[AuditChange]


# --- Checks ---------------------------------------------------------------------------


def _error(field: str, message: str, **extra: Any) -> dict[str, Any]:
    """One problem, in FastAPI's validation-error shape so every 422 reads the same."""
    return {"loc": ["body", field], "msg": message, "type": "value_error", **extra}


def _template_problem(text: str, allowed: frozenset[str], label: str) -> str | None:
    try:
        parts = parse_template(text)
    except ValueError:
        return f"{label}里的花括号 {{ }} 不成对。"
    if parts.not_plain:
        return (f"{label}里的 {parts.not_plain[0]} 写法不对：字段只能写成 {{字段名}}，例如 {{hall_phone}}，"
                "花括号里不能加冒号、感叹号、点或方括号。")
    for name in (name for _, name in parts.pieces if name is not None):
        if name in allowed:
            continue
        if name in ACCOUNT_FIELDS:
            return f"{label}不能用 {{{name}}}：这要知道户号，请写在“知道户号时的回答”里。"
        known = "、".join(f"{{{n}}}" for n in sorted(allowed))
        return f"{label}里的 {{{name}}} 不认识。可以用的有：{known}。"
    return None


def _clean_lines(items: list[str]) -> list[str]:
    return [item.strip() for item in items if item.strip()]


def _optional(text: str | None) -> str | None:
    return text.strip() if text and text.strip() else None


def check_intent(intent_id: str, fields: IntentFields) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Tidy the fields (trim, drop blank and repeated lines) and list what is wrong."""
    errors: list[dict[str, Any]] = []
    if not ID_PATTERN.match(intent_id):
        errors.append(_error("id", "编号要用小写英文字母开头，只能有小写字母、数字和下划线，2 到 64 位，"
                                   "例如 hall_info。"))
    elif intent_id == "new":  # /admin/intents/new is the creation form
        errors.append(_error("id", "编号不能叫 new，请换一个。"))
    title = fields.title.strip()
    if not title:
        errors.append(_error("title", "请填写标题。"))
    elif len(title) > 40:
        errors.append(_error("title", "标题最多 40 个字。"))
    description = fields.description.strip()
    if len(description) > 200:
        errors.append(_error("description", "说明最多 200 个字。"))

    examples = list(dict.fromkeys(_clean_lines(fields.examples)))
    for example in examples:
        if len(example) > 100:
            errors.append(_error("examples", f"例句“{example[:20]}…”太长了，最多 100 个字。"))
        elif not normalize(example):
            errors.append(_error("examples", f"例句“{example}”里没有可以识别的文字。"))
    # 交电费 and 交电费！ are one example to the matcher: count what it will see.
    distinct = len({normalize(example) for example in examples} - {""})
    if distinct < MIN_EXAMPLES:
        errors.append(_error("examples", f"至少要 {MIN_EXAMPLES} 个不同的例句（现在 {distinct} 个），一行写一句。"))

    keywords = list(dict.fromkeys(_clean_lines(fields.keywords)))
    for keyword in keywords:
        if len(keyword) > 20 or not normalize(keyword):
            errors.append(_error("keywords", f"关键词“{keyword[:20]}”不合适：要有文字，最多 20 个字。"))
    if len(keywords) > 30:
        errors.append(_error("keywords", "关键词最多 30 个。"))

    answers = {
        "answer_display": fields.answer_display.strip(),
        "answer_spoken": _optional(fields.answer_spoken),
        "answer_account_display": _optional(fields.answer_account_display),
        "answer_account_spoken": _optional(fields.answer_account_spoken),
    }
    if not answers["answer_display"]:
        errors.append(_error("answer_display", "请填写回答。"))
    if answers["answer_account_spoken"] and not answers["answer_account_display"]:
        errors.append(_error("answer_account_spoken", "先填写“知道户号时的回答”，再填它的朗读文字。"))
    for field, text in answers.items():
        if not text:
            continue
        allowed = ACCOUNT_FIELDS if field.startswith("answer_account") else GENERAL_FIELDS
        problem = (f"{FIELD_LABELS[field]}最多 1000 个字。" if len(text) > 1000
                   else _template_problem(text, allowed, FIELD_LABELS[field]))
        if problem:
            errors.append(_error(field, problem))

    action = fields.action.strip() or intent_id
    if not ID_PATTERN.match(action):
        errors.append(_error("action", "动作的写法和编号一样：小写字母开头，只有小写字母、数字和下划线。"))

    values = {"title": title, "description": description, "examples": examples, "keywords": keywords,
              **answers, "action": action, "needs_account": fields.needs_account}
    return values, errors


def example_conflicts(examples: list[str], intent_id: str, others: list[Intent]) -> list[dict[str, Any]]:
    """Examples another intent already has (compared after normalisation): one phrase, one intent."""
    owner: dict[str, Intent] = {}
    for other in others:
        if other.id != intent_id:
            for example in other.examples:
                owner.setdefault(normalize(example), other)
    errors = []
    for example in examples:
        other = owner.get(normalize(example))
        if other is not None:
            state = "" if other.enabled else "，已停用"
            errors.append(_error("examples", f"例句“{example}”已经属于意图 {other.id}（{other.title}{state}），"
                                             "同一句话不能放在两个意图里。",
                                 conflict={"example": example, "intent_id": other.id, "title": other.title}))
    return errors


def _reject(errors: list[dict[str, Any]]) -> None:
    if errors:
        raise HTTPException(status_code=422, detail=errors)


# --- Records --------------------------------------------------------------------------


def intent_record(row: Intent) -> dict[str, Any]:
    """An intent as the audit trail keeps it (JSON-ready)."""
    return {
        "id": row.id, "title": row.title, "description": row.description,
        "examples": list(row.examples), "keywords": list(row.keywords),
        "answer_display": row.answer_display, "answer_spoken": row.answer_spoken,
        "answer_account_display": row.answer_account_display, "answer_account_spoken": row.answer_account_spoken,
        "action": row.action, "needs_account": row.needs_account, "enabled": row.enabled,
        "origin": row.origin, "version": row.version,
    }


def intent_view(row: Intent) -> IntentView:
    return IntentView(**intent_record(row), essential=row.id in ESSENTIAL_INTENTS,
                      updated_at=as_utc(row.updated_at))


def _summary(row: Intent) -> IntentSummary:
    return IntentSummary(id=row.id, title=row.title, enabled=row.enabled, origin=row.origin, version=row.version,
                         example_count=len(row.examples), updated_at=as_utc(row.updated_at))


def search_intents(db: Session, query: str) -> list[Intent]:
    """By id, title or example text (also after normalisation, so 繁体 and spaces still find it)."""
    rows = list(db.exec(select(Intent).order_by(Intent.id)))
    needle = query.strip().casefold()
    if not needle:
        return rows
    key = normalize(needle)
    return [
        row for row in rows
        if needle in row.id or needle in row.title.casefold()
        or any(needle in e.casefold() or (key and key in normalize(e)) for e in row.examples)
    ]


def _get_intent(db: Session, intent_id: str) -> Intent:
    row = db.get(Intent, intent_id)
    if row is None:
        raise HTTPException(status_code=404, detail=f"没有意图 {intent_id}。")
    return row


def _compare_and_set(db: Session, row: Intent, version: int, values: dict[str, Any]) -> None:
    """Write only if the row is still at ``version``: two admins never overwrite each other unseen."""
    result = db.exec(
        update(Intent)
        .where(col(Intent.id) == row.id, col(Intent.version) == version)
        .values(**values, origin="admin", version=Intent.version + 1, updated_at=utc_now())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.rollback()
        raise HTTPException(status_code=409, detail=STALE_MESSAGE)
    db.refresh(row)


def _changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[AuditChange]:
    before, after = before or {}, after or {}
    fields = [f for f in dict.fromkeys([*before, *after]) if f not in ("version", "id")]
    return [AuditChange(field=f, label=FIELD_LABELS.get(f, f), before=before.get(f), after=after.get(f))
            for f in fields if before.get(f) != after.get(f)]


def audit_entries(db: Session, entity_id: str | None, limit: int) -> list[AuditEntry]:
    statement = select(AuditLog).order_by(col(AuditLog.id).desc()).limit(limit)
    if entity_id:
        statement = statement.where(AuditLog.entity_id == entity_id)
    return [
        AuditEntry(id=row.id or 0, at=as_utc(row.at), actor=row.actor, entity=row.entity,
                   entity_id=row.entity_id, action=row.action, changes=_changes(row.before, row.after))
        for row in db.exec(statement)
    ]


# --- YAML -----------------------------------------------------------------------------


def export_yaml(rows: list[Intent]) -> str:
    """All intents in the schema of knowledge_base/data/intents.yaml (what import reads back)."""
    items = []
    for row in rows:
        record = intent_record(row)
        item: dict[str, Any] = {key: record[key] for key in
                                ("id", "title", "description", "action", "needs_account", "examples", "keywords")}
        for field, key in _FIELD_TO_YAML.items():
            if record[field] is not None:
                item[key] = record[field]
        items.append(item)
    stamp = utc_now().astimezone(SERVICE_TZ).strftime("%Y-%m-%d %H:%M")
    header = [f"# 小电 FAQ 意图，导出于 {stamp}（北京时间），共 {len(rows)} 个。",
              "# 格式与 knowledge_base/data/intents.yaml 相同；修改后可在管理页面“导入”。"]
    disabled = [row.id for row in rows if not row.enabled]
    if disabled:
        header.append(f"# 已停用（导入不会改变启用状态）：{'、'.join(disabled)}")
    body = yaml.safe_dump({"intents": items}, allow_unicode=True, sort_keys=False, width=1000)
    return "\n".join(header) + "\n\n" + body


def _yaml_error_line(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    return f"第 {mark.line + 1} 行附近" if mark is not None else "某处"


def parse_import(text: str, existing: list[Intent]) -> tuple[list[tuple[str, dict[str, Any]]], list[dict[str, Any]]]:
    """Read and check a YAML file; every problem of the whole file is reported, nothing is half-done."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        return [], [_error("file", f"YAML 格式不对（{_yaml_error_line(error)}），请检查缩进和冒号。")]
    if not isinstance(data, dict) or not isinstance(data.get("intents"), list) or not data["intents"]:
        return [], [_error("file", "文件最外层应当是“intents:”，下面是意图的列表（可以先导出一份看看格式）。")]
    errors: list[dict[str, Any]] = []
    parsed: list[tuple[str, dict[str, Any]]] = []
    for index, item in enumerate(data["intents"], start=1):
        where = f"第 {index} 个意图" + (f"（{item['id']}）" if isinstance(item, dict) and "id" in item else "")
        try:
            seed = IntentSeed.model_validate(item)
        except ValidationError as error:
            for problem in chinese_validation_errors(list(error.errors())):
                field = str(problem["loc"][0]) if problem["loc"] else "file"
                label = FIELD_LABELS.get(_YAML_TO_FIELD.get(field, field), field)
                errors.append(_error(field, f"{where}的“{label}”：{problem['msg']}。"))
            continue
        fields = IntentFields(**{_YAML_TO_FIELD.get(k, k): v for k, v in seed.model_dump().items() if k != "id"})
        values, problems = check_intent(seed.id, fields)
        errors.extend(_error(p["loc"][-1], f"{where}：{p['msg']}") for p in problems)
        parsed.append((seed.id, values))
    ids = [intent_id for intent_id, _ in parsed]
    for duplicate in sorted({i for i in ids if ids.count(i) > 1}):
        errors.append(_error("id", f"意图 {duplicate} 在文件里出现了不止一次。"))
    # Conflicts are judged on the result: the file's intents plus the ones it leaves alone.
    incoming = {intent_id: values for intent_id, values in parsed}
    final = [row for row in existing if row.id not in incoming]
    final += [Intent(id=intent_id, **values) for intent_id, values in incoming.items()]
    for intent_id, values in incoming.items():
        for problem in example_conflicts(values["examples"], intent_id, final):
            errors.append(_error("examples", f"意图 {intent_id}：{problem['msg']}", conflict=problem["conflict"]))
    return parsed, errors


# --- Routes ---------------------------------------------------------------------------

pages = APIRouter(prefix="/admin", include_in_schema=False)
api = APIRouter(prefix="/api/admin", tags=["管理"],
                dependencies=[Depends(require_admin), Depends(csrf_protect)])


@pages.get("")
def intents_page(request: Request, login: AdminLogin, db: DbSession,
                 q: Annotated[str, Query(max_length=100)] = "") -> Response:
    rows = search_intents(db, q)
    return render(request, "admin/intents.html", {"intents": [_summary(r) for r in rows], "q": q,
                                                  "essential": ESSENTIAL_INTENTS}, login=login)


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
    return _form_page(request, login, intent_view(_get_intent(db, intent_id)))


@pages.get("/audit")
def audit_page(request: Request, login: AdminLogin, db: DbSession,
               entity_id: Annotated[str, Query(max_length=64)] = "") -> Response:
    return render(request, "admin/audit.html", {"entries": audit_entries(db, entity_id or None, 200),
                                                "entity_id": entity_id, "action_labels": ACTION_LABELS,
                                                "entity_labels": ENTITY_LABELS}, login=login)


@api.get("/intents", response_model=list[IntentSummary])
def list_intents(db: DbSession, q: Annotated[str, Query(max_length=100)] = "") -> list[IntentSummary]:
    return [_summary(row) for row in search_intents(db, q)]


@api.get("/intents/{intent_id}", response_model=IntentView)
def get_intent(db: DbSession, intent_id: str) -> IntentView:
    return intent_view(_get_intent(db, intent_id))


@api.post("/intents", response_model=IntentView, status_code=201)
def create_intent(body: IntentCreate, login: AdminLogin, db: DbSession, knowledge: KnowledgeDep) -> IntentView:
    intent_id = body.id.strip()
    values, errors = check_intent(intent_id, body)
    if ID_PATTERN.match(intent_id) and db.get(Intent, intent_id) is not None:
        errors.append(_error("id", f"编号 {intent_id} 已经有了，请换一个，或者去修改原来那个。"))
    _reject(errors + example_conflicts(values["examples"], intent_id, list(db.exec(select(Intent)))))
    row = Intent(id=intent_id, **values, origin="admin", updated_at=utc_now())
    db.add(row)
    try:
        db.flush()
    except IntegrityError:
        db.rollback()
        _reject([_error("id", f"编号 {intent_id} 刚被别人用了，请换一个。")])
    record_audit(db, login.name, "intent", intent_id, "create", None, intent_record(row))
    db.commit()
    knowledge.reload()
    return intent_view(row)


@api.put("/intents/{intent_id}", response_model=IntentView)
def update_intent(intent_id: str, body: IntentUpdate, login: AdminLogin, db: DbSession,
                  knowledge: KnowledgeDep) -> IntentView:
    row = _get_intent(db, intent_id)
    if row.version != body.version:
        raise HTTPException(status_code=409, detail=STALE_MESSAGE)
    values, errors = check_intent(intent_id, body)
    _reject(errors + example_conflicts(values["examples"], intent_id, list(db.exec(select(Intent)))))
    before = intent_record(row)
    _compare_and_set(db, row, body.version, values)
    record_audit(db, login.name, "intent", intent_id, "update", before, intent_record(row))
    db.commit()
    knowledge.reload()
    return intent_view(row)


def _set_enabled(intent_id: str, body: VersionBody, enabled: bool, login: Login, db: Session,
                 knowledge: KnowledgeDep) -> IntentView:
    row = _get_intent(db, intent_id)
    if not enabled and intent_id in ESSENTIAL_INTENTS:
        raise HTTPException(status_code=422, detail=[_error(
            "enabled", "这是基本功能（转人工、紧急情况、再说一遍等），不能停用；可以修改它的内容。")])
    if row.version != body.version:
        raise HTTPException(status_code=409, detail=STALE_MESSAGE)
    before = intent_record(row)
    _compare_and_set(db, row, body.version, {"enabled": enabled})
    record_audit(db, login.name, "intent", intent_id, "enable" if enabled else "disable", before,
                 intent_record(row))
    db.commit()
    knowledge.reload()
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
def try_phrase(body: TryRequest, knowledge: KnowledgeDep) -> TryResult:
    """What the assistant would make of a phrase, with the ranked candidates and their scores."""
    reply = knowledge.ask(body.text)
    titles = {intent_id: answers.title for intent_id, answers in knowledge.snapshot.answers.items()}
    match = reply.match
    return TryResult(
        text=match.text, normalized=match.normalized, intent=match.intent, confidence=match.confidence,
        decision=str(match.decision),
        candidates=[CandidateView(intent=c.intent, title=titles.get(c.intent, c.intent), score=c.score)
                    for c in match.candidates],
        answer=reply.answer.display if reply.answer else "",
    )


@api.get("/export/intents.yaml")
def export_intents(db: DbSession) -> Response:
    body = export_yaml(list(db.exec(select(Intent).order_by(Intent.id))))
    stamp = utc_now().astimezone(SERVICE_TZ).strftime("%Y%m%d-%H%M")
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
        raise HTTPException(status_code=422, detail=[_error("file", "文件要用 UTF-8 编码保存。")]) from None
    existing = {row.id: row for row in db.exec(select(Intent))}
    parsed, errors = parse_import(text, list(existing.values()))
    _reject(errors)
    created, updated = [], []
    for intent_id, values in parsed:
        row = existing.get(intent_id)
        if row is None:
            row = Intent(id=intent_id, **values, origin="admin", updated_at=utc_now())
            db.add(row)
            db.flush()
            record_audit(db, login.name, "intent", intent_id, "import", None, intent_record(row))
            created.append(intent_id)
        elif any(getattr(row, key) != value for key, value in values.items()):
            before = intent_record(row)
            _compare_and_set(db, row, row.version, values)
            record_audit(db, login.name, "intent", intent_id, "import", before, intent_record(row))
            updated.append(intent_id)
    db.commit()
    knowledge.reload()
    return ImportResult(created=created, updated=updated, unchanged=len(parsed) - len(created) - len(updated))


@api.get("/audit", response_model=list[AuditEntry])
def list_audit(db: DbSession, entity_id: Annotated[str, Query(max_length=64)] = "",
               limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[AuditEntry]:
    return audit_entries(db, entity_id or None, limit)


router = APIRouter()
router.include_router(pages)
router.include_router(api)
