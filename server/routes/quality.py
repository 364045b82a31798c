"""Quality review (质检): the dashboard, unanswered groups, the daily sample, rectification items
and the daily report, as pages under /admin/quality and JSON/CSV under /api/admin/quality.

Admins and reviewers see everything here; only admins may turn a group into intent examples
or a new intent, and they do so through the admin's own save path (``server.admin.routes``),
so the same checks and audit apply and every worker's matcher reloads on its next turn.
Every request first counts the turns logged since the last one (``rollup.refresh``).
"""

from __future__ import annotations

import csv
import io
import threading
import time
from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlmodel import select

from assistant.knowledge import Knowledge
from assistant.quality import rollup
from assistant.quality.privacy import conversation_ref, spreadsheet_safe
from assistant.quality.rectification import (
    CATEGORIES,
    STATUSES,
    RectificationError,
    create_item,
    list_items,
    update_item,
)
from assistant.quality.report import ReportUnavailable, build_report, css, percent, print_pdf, summary_charts
from assistant.quality.review import (
    DIMENSIONS,
    MARK_REASONS,
    ReviewError,
    conversation_turns,
    findings,
    mark_turn,
    rate_sample,
)
from assistant.quality.recordings import listen, sampled_turn
from assistant.quality.sampling import PICK_LABELS, draw_sample, halls_of
from assistant.quality.summary import CHANNEL_LABELS, HANDOFF_LABELS, NO_HALL, known_halls, summarize
from assistant.quality.unanswered import UnansweredGroup, suggester, unanswered_groups
from assistant.recordings import MEDIA_TYPE
from assistant.speech.audio import AudioError
from knowledge_base.db import session
from knowledge_base.models import Intent, ReviewSample, service_today
from server.admin.routes import create_intent, update_intent
from server.admin.schemas import IntentCreate, IntentUpdate
from server.login import Forbidden, Login, csrf_protect, require_login
from server.pages import render

WINDOWS = (7, 30, 90)
CSV_TABLES = ("days", "channels", "halls", "handoffs", "groups", "samples", "rectifications")


def require_reviewer(login: Annotated[Login, Depends(require_login)]) -> Login:
    """Quality pages: reviewers and admins."""
    if login.role not in ("admin", "reviewer"):
        raise Forbidden("这里只有质检员和管理员能用。")
    return login


ReviewerLogin = Annotated[Login, Depends(require_reviewer)]
Days = Annotated[int, Query(ge=1, le=366)]
# A hall's name as registered for its kiosks, or "-" for the turns at no hall (phone, web, unregistered kiosks).
Hall = Annotated[str, Query(max_length=64)]


def _admin_only(login: Login) -> None:
    if login.role != "admin":
        raise Forbidden("修改问答意图只有管理员能做。请把这一组告诉管理员。")


def _fresh(request: Request) -> Any:
    """The rollups brought up to date; returns the engine."""
    engine = request.app.state.engine
    rollup.bring_up_to_date(engine, request.app.state.settings.turn_log_days, service_today())
    return engine


def _groups(request: Request, days: int, limit: int = 20) -> list[UnansweredGroup]:
    return unanswered_groups(request.app.state.engine, days, service_today(), limit,
                             suggest=suggester(request.app.state.knowledge))


def _day(value: str | None) -> date:
    if not value:
        return service_today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise HTTPException(status_code=422, detail="日期要写成 2026-11-30 这样。") from None


pages = APIRouter(prefix="/admin/quality", include_in_schema=False,
                  dependencies=[Depends(require_reviewer), Depends(csrf_protect)])
api = APIRouter(prefix="/api/admin/quality", tags=["质检"],
                dependencies=[Depends(require_reviewer), Depends(csrf_protect)])


# --- The dashboard ---------------------------------------------------------------------


@pages.get("")
def dashboard(request: Request, login: ReviewerLogin, days: Days = 7,
              channel: Annotated[str, Query(max_length=16)] = "", hall: Hall = "") -> Response:
    engine = _fresh(request)
    summary = summarize(engine, days, channel=channel or None, hall=hall or None)
    return render(request, "quality/dashboard.html", {
        "summary": summary, "charts": summary_charts(summary), "days": days, "windows": WINDOWS,
        "channel": channel, "channel_labels": CHANNEL_LABELS, "handoff_labels": HANDOFF_LABELS,
        "hall": hall, "halls": known_halls(engine), "no_hall": NO_HALL,
        "groups": _groups(request, days, 5), "percent": percent, "csv_tables": CSV_TABLES,
    }, login=login)


@api.get("/summary")
def summary_api(request: Request, days: Days = 7,
                channel: Annotated[str, Query(max_length=16)] = "", hall: Hall = "") -> dict[str, Any]:
    """Figures of the last N service days: turns, conversations, handoffs by reason, resolution rate,
    satisfaction, latency (ms), per channel, per hall (``by_hall``) and per day; ``hall`` keeps one hall
    ("-": the turns at no hall: phone, web, kiosks not registered at a hall)."""
    return summarize(_fresh(request), days, channel=channel or None, hall=hall or None).as_json()


# --- Unanswered groups -----------------------------------------------------------------


@pages.get("/groups")
def groups_page(request: Request, login: ReviewerLogin, days: Days = 7,
                message: Annotated[str, Query(max_length=300)] = "") -> Response:
    _fresh(request)
    with session(request.app.state.engine) as db:
        intents = [(row.id, row.title) for row in db.exec(select(Intent).where(Intent.enabled == True)  # noqa: E712
                                                           .order_by(Intent.id))]
    return render(request, "quality/groups.html", {"groups": _groups(request, days), "days": days,
                                                    "windows": WINDOWS, "intents": intents, "message": message},
                  login=login)


@api.get("/groups")
def groups_api(request: Request, days: Days = 7,
               limit: Annotated[int, Query(ge=1, le=200)] = 20) -> list[dict[str, Any]]:
    _fresh(request)
    return [g.as_json() for g in _groups(request, days, limit)]


class AddExamples(BaseModel):
    intent: str = Field(max_length=64)
    examples: list[str] = Field(min_length=1, max_length=100)


def add_examples(body: AddExamples, login: Login, request: Request) -> Intent:
    """The admin's own update, with the new examples after the old ones (duplicates dropped)."""
    _admin_only(login)
    knowledge: Knowledge = request.app.state.knowledge
    with session(request.app.state.engine) as db:
        row = db.get(Intent, body.intent)
        if row is None:
            raise HTTPException(status_code=404, detail=f"没有意图 {body.intent}。")
        fields = {name: getattr(row, name) for name in IntentUpdate.model_fields if name != "version"}
        fields["examples"] = list(dict.fromkeys([*row.examples, *(e.strip()[:200] for e in body.examples if e.strip())]))
        update_intent(row.id, IntentUpdate(**fields, version=row.version), login, db, knowledge)
        db.refresh(row)
        return row


@api.post("/groups/add-examples")
def add_examples_api(body: AddExamples, login: ReviewerLogin, request: Request) -> dict[str, Any]:
    row = add_examples(body, login, request)
    return {"intent": row.id, "examples": len(row.examples), "version": row.version}


def _problem_text(error: HTTPException) -> str:
    detail = error.detail
    if isinstance(detail, list):
        return "；".join(str(item.get("msg", item)) if isinstance(item, dict) else str(item) for item in detail)
    return str(detail)


@pages.post("/groups/add-examples")
async def add_examples_form(request: Request, login: ReviewerLogin) -> Response:
    form = await request.form()
    days = str(form.get("days") or "7")
    try:
        body = AddExamples(intent=str(form.get("intent") or ""),
                           examples=[str(e) for e in form.getlist("examples")])
        row = await run_in_threadpool(add_examples, body, login, request)
        message = f"已把 {len(body.examples)} 句加到“{row.title}”，下一句话就按新例句回答。"
    except HTTPException as error:
        message = "没有保存：" + _problem_text(error)
    except ValueError:
        message = "没有保存：请选一个意图，至少勾选一句。"
    return RedirectResponse(f"/admin/quality/groups?days={quote(days)}&message={quote(message)}", status_code=303)


@pages.get("/groups/new-intent")
def new_intent_page(request: Request, login: ReviewerLogin, key: Annotated[str, Query(max_length=20)],
                    days: Days = 7) -> Response:
    """The intent editor's fields, pre-filled from the group: its texts as examples, its leader as title."""
    _admin_only(login)
    _fresh(request)
    found = next((g for g in _groups(request, days, 200) if g.key == key), None)
    if found is None:
        raise HTTPException(status_code=404, detail="这一组已经不在了（可能已经答上了），请回到分组页面。")
    return render(request, "quality/new_intent.html", {"group": found, "days": days, "errors": [],
                                                        "values": {"title": found.leader[:40]}}, login=login)


@pages.post("/groups/new-intent")
async def new_intent_submit(request: Request, login: ReviewerLogin) -> Response:
    _admin_only(login)
    form = await request.form()
    body = IntentCreate(id=str(form.get("id") or "").strip(), title=str(form.get("title") or "").strip(),
                        action="answer", examples=[str(e) for e in form.getlist("examples")],
                        keywords=[k.strip() for k in str(form.get("keywords") or "").splitlines() if k.strip()],
                        answer_display=str(form.get("answer_display") or "").strip())
    try:
        await run_in_threadpool(_create, body, login, request)
    except HTTPException as error:
        days = str(form.get("days") or "7")
        return render(request, "quality/new_intent.html", {
            "group": None, "days": int(days) if days.isdigit() else 7, "errors": [_problem_text(error)],
            "values": body.model_dump(), "examples": body.examples}, login=login, status_code=422)
    return RedirectResponse(f"/admin/intents/{quote(body.id)}?saved=1", status_code=303)


def _create(body: IntentCreate, login: Login, request: Request) -> None:
    with session(request.app.state.engine) as db:
        create_intent(body, login, db, request.app.state.knowledge)


# --- The daily sample and the review --------------------------------------------------


@pages.get("/samples")
def samples_page(request: Request, login: ReviewerLogin, day: Annotated[str, Query(max_length=10)] = "") -> Response:
    engine = _fresh(request)
    chosen = _day(day)
    samples = draw_sample(engine, chosen)
    return render(request, "quality/samples.html", {
        "day": chosen, "samples": samples, "pick_labels": PICK_LABELS, "findings": findings(engine, samples),
        "halls": halls_of(engine, samples),
        "channel_labels": CHANNEL_LABELS, "previous": chosen - timedelta(days=1), "next": chosen + timedelta(days=1),
    }, login=login)


def _sample_or_404(request: Request, sample_id: int) -> ReviewSample:
    with session(request.app.state.engine) as db:
        sample = db.get(ReviewSample, sample_id)
    if sample is None:
        raise HTTPException(status_code=404, detail="没有这次抽检。")
    return sample


@pages.get("/samples/{sample_id}")
def sample_page(request: Request, login: ReviewerLogin, sample_id: int,
                message: Annotated[str, Query(max_length=200)] = "") -> Response:
    sample = _sample_or_404(request, sample_id)
    return render(request, "quality/sample.html", {
        "sample": sample, "turns": conversation_turns(request.app.state.engine, sample), "reasons": MARK_REASONS,
        "dimensions": DIMENSIONS, "pick_labels": PICK_LABELS, "channel_labels": CHANNEL_LABELS,
        "message": message}, login=login)


@pages.post("/samples/{sample_id}/marks")
async def mark_form(request: Request, login: ReviewerLogin, sample_id: int) -> Response:
    form = await request.form()
    message = "已保存。"
    try:
        turn_id = int(str(form.get("turn_id") or "0"))
        correct = form.get("verdict") == "right"
        mark_turn(request.app.state.engine, sample_id, turn_id, correct, str(form.get("reason") or ""), login.name)
    except (ReviewError, ValueError) as error:
        message = str(error) if isinstance(error, ReviewError) else "请选对或错。"
    return RedirectResponse(f"/admin/quality/samples/{sample_id}?message={quote(message)}#turns", status_code=303)


@pages.post("/samples/{sample_id}/rating")
async def rating_form(request: Request, login: ReviewerLogin, sample_id: int) -> Response:
    form = await request.form()
    message = "评分已保存。"
    try:
        ratings = {name: int(str(form.get(name) or "0")) for name in DIMENSIONS}
        rate_sample(request.app.state.engine, sample_id, ratings, str(form.get("comment") or ""), login.name)
    except (ReviewError, ValueError) as error:
        message = str(error) if isinstance(error, ReviewError) else "请给每一项打 1 到 5 分。"
    return RedirectResponse(f"/admin/quality/samples/{sample_id}?message={quote(message)}", status_code=303)


class MarkBody(BaseModel):
    turn_id: int
    correct: bool
    reason: str = Field("", max_length=32)


class RatingBody(BaseModel):
    attitude: int
    clarity: int
    need_discovered: int
    comment: str = Field("", max_length=1000)


@api.post("/samples/draw")
def draw_api(request: Request, day: Annotated[str, Query(max_length=10)] = "") -> list[dict[str, Any]]:
    samples = draw_sample(_fresh(request), _day(day))
    # Never the session id: it would let a reviewer continue the customer's live conversation.
    return [{"id": s.id, "conversation": conversation_ref(s.session_id), "channel": s.channel, "picked_for": s.picked_for,
             "status": s.status} for s in samples]


@api.post("/samples/{sample_id}/marks")
def mark_api(request: Request, login: ReviewerLogin, sample_id: int, body: MarkBody) -> dict[str, str]:
    try:
        mark_turn(request.app.state.engine, sample_id, body.turn_id, body.correct, body.reason, login.name)
    except ReviewError as error:
        raise HTTPException(status_code=422, detail=str(error)) from None
    return {"status": "saved"}


@api.post("/samples/{sample_id}/rating")
def rating_api(request: Request, login: ReviewerLogin, sample_id: int, body: RatingBody) -> dict[str, str]:
    try:
        rate_sample(request.app.state.engine, sample_id, body.model_dump(exclude={"comment"}), body.comment,
                    login.name)
    except ReviewError as error:
        raise HTTPException(status_code=422, detail=str(error)) from None
    return {"status": "saved"}


# --- Listening (issue 15): the customer's own words and the answer as spoken ----------------

NO_STORE = {"Cache-Control": "no-store"}  # a customer's voice stays out of every cache


@api.get("/samples/{sample_id}/turns/{turn_id}/recording.webm", response_class=Response,
         responses={200: {"content": {MEDIA_TYPE: {}}}, 404: {"description": "这一句没有录音"}})
def turn_recording(request: Request, login: ReviewerLogin, sample_id: int, turn_id: int) -> Response:
    """听客户原话: a sampled turn's recording (WebM Opus); every listen goes to the audit log."""
    if request.headers.get("sec-fetch-site") == "cross-site":
        # A link on another site carries the reviewer's cookie (SameSite=Lax): it would audit a listen
        # they never made. The review page's own player is same-origin.
        raise HTTPException(status_code=403, detail="请在质检页面里播放录音。")
    try:
        words = listen(request.app.state.engine, sample_id, turn_id, login.name)
    except ReviewError as error:
        raise HTTPException(status_code=404, detail=str(error)) from None
    return Response(words.audio, media_type=MEDIA_TYPE, headers=NO_STORE)


@api.get("/samples/{sample_id}/turns/{turn_id}/answer.wav", response_class=Response,
         responses={200: {"content": {"audio/wav": {}}}, 404: {"description": "这一句不在这次抽检的对话里"}})
def turn_answer(request: Request, sample_id: int, turn_id: int) -> Response:
    """听小电的回答: the turn's answer (as the page shows it, masked) in the service's voice, made as
    answers are spoken (the voice's own cache); 8 kHz for a phone call, as the caller heard it."""
    state = request.app.state
    try:
        turn = sampled_turn(state.engine, sample_id, turn_id)
    except ReviewError as error:
        raise HTTPException(status_code=404, detail=str(error)) from None
    try:
        audio = state.speaker.speak(turn.reply, state.services.conversations.voice,
                                    rate=8000 if turn.channel == "phone" else 16000)
    except AudioError as error:  # the voice failed: the answer is still there to read
        raise HTTPException(status_code=503, detail=str(error)) from None
    return Response(audio.wav_bytes(), media_type="audio/wav", headers=NO_STORE)


# --- Rectification items ----------------------------------------------------------------


@pages.get("/rectifications")
def rectifications_page(request: Request, login: ReviewerLogin,
                        message: Annotated[str, Query(max_length=200)] = "",
                        group: Annotated[str, Query(max_length=20)] = "", days: Days = 7) -> Response:
    engine = _fresh(request)
    source = next((g for g in _groups(request, days, 200) if g.key == group), None) if group else None
    return render(request, "quality/rectifications.html", {
        "items": list_items(engine, service_today()), "categories": CATEGORIES, "statuses": STATUSES,
        "message": message, "source": source, "default_deadline": service_today() + timedelta(days=7),
    }, login=login)


def _deadline(value: Any) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise RectificationError("期限要写成 2026-12-07 这样。") from None


@pages.post("/rectifications")
async def rectification_create_form(request: Request, login: ReviewerLogin) -> Response:
    form = await request.form()
    message = "已添加整改。"
    try:
        create_item(request.app.state.engine, str(form.get("title") or ""), str(form.get("category") or ""),
                    str(form.get("owner") or ""), _deadline(form.get("deadline")), str(form.get("source") or ""),
                    [str(t) for t in form.getlist("utterances")], str(form.get("note") or ""))
    except RectificationError as error:
        message = str(error)
    return RedirectResponse(f"/admin/quality/rectifications?message={quote(message)}", status_code=303)


@pages.post("/rectifications/{item_id}")
async def rectification_update_form(request: Request, login: ReviewerLogin, item_id: int) -> Response:
    form = await request.form()
    message = "已更新。"
    try:
        update_item(request.app.state.engine, item_id, str(form.get("status") or ""),
                    str(form.get("owner") or "") or None,
                    _deadline(form.get("deadline")) if form.get("deadline") else None,
                    str(form["note"]) if "note" in form else None)
    except RectificationError as error:
        message = str(error)
    return RedirectResponse(f"/admin/quality/rectifications?message={quote(message)}", status_code=303)


class RectificationBody(BaseModel):
    title: str = Field(max_length=200)
    category: str = Field(max_length=32)
    owner: str = Field(max_length=64)
    deadline: date
    source: str = Field("", max_length=100)
    utterances: list[str] = Field(default_factory=list, max_length=200)
    note: str = Field("", max_length=2000)


class RectificationUpdate(BaseModel):
    status: str = Field(max_length=16)
    owner: str | None = Field(None, max_length=64)
    deadline: date | None = None
    note: str | None = Field(None, max_length=2000)


def _item_json(view: Any) -> dict[str, Any]:
    item = view.item
    return {"id": item.id, "title": item.title, "category": item.category, "owner": item.owner,
            "deadline": item.deadline.isoformat(), "status": item.status, "source": item.source,
            "overdue": view.overdue, "utterances": item.utterances,
            "effect": {"before_per_1000": view.effect.before_per_1000, "after_per_1000": view.effect.after_per_1000,
                       "improved": view.effect.improved}}


@api.get("/rectifications")
def rectifications_api(request: Request) -> list[dict[str, Any]]:
    return [_item_json(v) for v in list_items(_fresh(request), service_today())]


@api.post("/rectifications", status_code=201)
def rectification_create_api(request: Request, body: RectificationBody) -> dict[str, Any]:
    try:
        item = create_item(request.app.state.engine, body.title, body.category, body.owner, body.deadline,
                           body.source, body.utterances, body.note)
    except RectificationError as error:
        raise HTTPException(status_code=422, detail=str(error)) from None
    return {"id": item.id}


@api.put("/rectifications/{item_id}")
def rectification_update_api(request: Request, item_id: int, body: RectificationUpdate) -> dict[str, Any]:
    try:
        update_item(request.app.state.engine, item_id, body.status, body.owner, body.deadline, body.note)
    except RectificationError as error:
        raise HTTPException(status_code=422, detail=str(error)) from None
    view = next(v for v in list_items(_fresh(request), service_today()) if v.item.id == item_id)
    return _item_json(view)


# --- The daily report and CSV -----------------------------------------------------------


@pages.get("/report", response_class=HTMLResponse)
def report_page(request: Request, day: Annotated[str, Query(max_length=10)] = "") -> HTMLResponse:
    engine = _fresh(request)
    report = build_report(engine, _day(day), suggester(request.app.state.knowledge),
                          stylesheet="/admin/quality/report.css")
    return HTMLResponse(report.html)


@pages.get("/report.css")
def report_css() -> Response:
    return Response(css(), media_type="text/css; charset=utf-8")


# One Chromium print at a time per process (each takes hundreds of MB on a 2-core box); a request that
# finds a print running is told politely to try again, and the day's PDF is kept a few minutes so
# reloads and a second reviewer do not print it again.
_PRINTING = threading.Lock()
PDF_CACHE_SECONDS = 300.0
PDF_CACHE_DAYS = 7  # at most this many days' PDFs kept at once


def _pdf_cache(request: Request) -> dict[date, tuple[float, bytes]]:
    """The app's printed reports by day (on app.state: each server, and each test's server, its own)."""
    cache = getattr(request.app.state, "quality_pdf_cache", None)
    if cache is None:
        cache = request.app.state.quality_pdf_cache = {}
    return cache


def _pdf_response(body: bytes, chosen: date) -> Response:
    return Response(body, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="quality-{chosen.isoformat()}.pdf"'})


@pages.get("/report.pdf")
async def report_pdf(request: Request, day: Annotated[str, Query(max_length=10)] = "") -> Response:
    import tempfile
    from pathlib import Path

    chosen = _day(day)
    cache = _pdf_cache(request)
    cached = cache.get(chosen)
    if cached and time.monotonic() - cached[0] < PDF_CACHE_SECONDS:
        return _pdf_response(cached[1], chosen)
    if not _PRINTING.acquire(blocking=False):
        raise HTTPException(status_code=503, detail="日报正在生成，请过半分钟再点一次。",
                            headers={"Retry-After": "30"})
    try:
        engine = await run_in_threadpool(_fresh, request)
        report = await run_in_threadpool(build_report, engine, chosen, suggester(request.app.state.knowledge))
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder) / "report.pdf"
            try:
                await run_in_threadpool(print_pdf, report.html, out)
            except ReportUnavailable as error:
                raise HTTPException(status_code=503, detail=str(error)) from None
            body = out.read_bytes()
    finally:
        _PRINTING.release()
    now = time.monotonic()
    for old_day in [d for d, (at, _) in cache.items() if now - at >= PDF_CACHE_SECONDS]:
        del cache[old_day]  # the cache holds only the last few minutes' prints
    while len(cache) >= PDF_CACHE_DAYS:
        del cache[min(cache, key=lambda d: cache[d][0])]
    cache[chosen] = (now, body)
    return _pdf_response(body, chosen)


def _csv_rows(request: Request, table: str, days: int, hall: str = "") -> tuple[list[str], list[list[Any]]]:
    engine = _fresh(request)
    if table in ("days", "channels", "halls"):
        summary = summarize(engine, days, hall=hall or None)
        rows = {"days": summary.by_day, "channels": summary.by_channel,
                "halls": [f for _, f in summary.by_hall]}[table]
        first = {"days": "日期", "channels": "渠道", "halls": "营业厅"}[table]
        header = [first, "对话", "轮数", "解决率", "转人工", "转人工率", "没听懂比例", "确认比例",
                  "紧急情况", "诈骗提醒", "满意", "一般", "不满意", "满意比例", "响应中位数毫秒", "响应p90毫秒"]
        return header, [[CHANNEL_LABELS.get(f.label, f.label) if table == "channels" else f.label, f.conversations,
                         f.turns, f.resolution_rate, sum(f.handoffs.values()), f.handoff_rate, f.none_rate,
                         f.confirm_rate, f.emergencies, f.frauds, *f.satisfaction.values(), f.satisfied_rate,
                         f.latency_ms["median"], f.latency_ms["p90"]] for f in rows]
    if table == "handoffs":
        total = summarize(engine, days, hall=hall or None).total
        return ["原因", "次数"], [[HANDOFF_LABELS.get(r, r), n] for r, n in sorted(total.handoffs.items())]
    if table == "groups":
        return (["次数", "代表说法", "原因", "全部说法"],
                [[g.count, g.leader, "；".join(f"{k} {v}" for k, v in g.reasons.items()),
                  "、".join(m.text for m in g.members)] for g in _groups(request, days, 200)])
    if table == "samples":
        samples = draw_sample(engine, service_today())
        return (["编号", "对话", "渠道", "抽中原因", "状态", "服务态度", "表达清楚", "发现需求"],
                [[s.id, conversation_ref(s.session_id), CHANNEL_LABELS.get(s.channel, s.channel), PICK_LABELS.get(s.picked_for, s.picked_for),
                  s.status, s.attitude, s.clarity, s.need_discovered] for s in samples])
    views = list_items(engine, service_today())
    return (["编号", "问题", "类别", "负责人", "期限", "状态", "逾期", "之前每千轮", "之后每千轮"],
            [[v.item.id, v.item.title, CATEGORIES.get(v.item.category, v.item.category), v.item.owner,
              v.item.deadline.isoformat(), STATUSES.get(v.item.status, v.item.status), "是" if v.overdue else "否",
              v.effect.before_per_1000, v.effect.after_per_1000] for v in views])


@api.get("/export/{table}.csv")
def export_csv(request: Request, table: str, days: Days = 7, hall: Hall = "") -> Response:
    """Any of the dashboard's tables as CSV (UTF-8 with BOM, so Excel shows the Chinese); the figures'
    tables of one hall when ``hall`` says so, as the dashboard shows them."""
    if table not in CSV_TABLES:
        raise HTTPException(status_code=404, detail=f"没有这张表。可以导出：{'、'.join(CSV_TABLES)}。")
    header, rows = _csv_rows(request, table, days, hall)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(["" if cell is None else spreadsheet_safe(cell) for cell in row] for row in rows)
    return Response("\ufeff" + buffer.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="quality-{table}-{days}d.csv"'})


router = APIRouter()
router.include_router(pages)
router.include_router(api)
