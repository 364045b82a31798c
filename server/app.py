"""The FastAPI app factory: one service for the kiosk, the admins and the staff.

``create_app`` builds a fresh app; start-up (the lifespan) opens the
database, seeds it (idempotent), loads the knowledge and its matcher once,
makes sure there is an admin, and only then reports ready. Everything the
routes need is put on ``app.state``: ``settings``, ``engine``,
``knowledge``, and ``readiness`` (name → bool; /readyz is 200 when all are
true, so a part loaded later, such as speech, adds its own entry).

Run it with ``xiaodian serve`` or ``uvicorn --factory server.app:create_app``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from assistant.accounts import FIRST_ADMIN_NAME, ensure_first_admin
from assistant.admission import ConnectionCap, RecognitionGate
from assistant.providers import check_payment_settings
from assistant.retention import DailyTurnLogPurge
from assistant.services import build_services, configured_voice, make_speaker
from assistant.spoken_answers import SpeechWarmer
from knowledge_base.settings import Settings, get_settings
from knowledge_base.db import make_engine
from knowledge_base.seed import seed_database
from server import auth
from server.admin.routes import router as admin_router
from server.errors import install_error_handlers
from server.metrics import CONTENT_TYPE, Metrics
from server.reconciliation import reconcile_periodically
from server.routes import customer, payments_admin, staff
from server.routes import reminders_admin  # daily reminders (issue 14)
from server.routes import quality as quality_routes
from server.routes import phone as phone_routes
from assistant.log_redaction import install_log_redaction
from server.security import SecurityHeaders, make_data_folder_private

logger = logging.getLogger("xiaodian.server")


def announce_first_admin(password: str) -> None:
    """Show the generated password once, where the operator who started the service looks."""
    lines = [
        "=" * 72,
        f"首位管理员已创建 / First admin created: 用户名 user = {FIRST_ADMIN_NAME}",
        f"密码 password = {password}",
        "密码只显示这一次，请记下并尽快修改：xiaodian users passwd admin",
        "Shown only this once; change it soon with: xiaodian users passwd admin",
        "=" * 72,
    ]
    print("\n".join(lines), flush=True)


def _start(app: FastAPI) -> None:
    """Blocking start-up work, run once before the first request."""
    settings: Settings = app.state.settings
    # At start-up, not in create_app: uvicorn may configure its log handlers after the app is built.
    install_log_redaction()
    engine = make_engine(settings.resolved_database_url)
    app.state.engine = engine
    try:
        report = seed_database(engine)
    except IntegrityError:  # another machine seeded the same rows at this moment: now they are there
        report = seed_database(engine)
    app.state.readiness["database"] = True
    if report.changed:
        logger.info("knowledge base seeded: added %s, updated %s", report.added, report.updated)
    # One Knowledge for everyone: an admin's save reloads the very matcher the kiosk uses.
    services = build_services(settings, engine=engine, seed=False)
    app.state.services = services
    app.state.knowledge = services.knowledge
    app.state.speech = services.speech
    app.state.speaker = make_speaker(settings)
    make_data_folder_private(settings.data_dir)
    app.state.turn_log_purge = DailyTurnLogPurge(engine, settings.turn_log_days, settings.recordings_days)
    app.state.turn_log_purge.start()
    if settings.reminders_in_service:  # daily reminders (issue 14): the run and the drain, one worker at a time
        from assistant.reminders.wiring import start_in_service
        app.state.reminder_scheduler = start_in_service(settings, engine)
    app.state.readiness["knowledge"] = True
    password = ensure_first_admin(engine)
    if password is not None:
        announce_first_admin(password)
    app.state.readiness["accounts"] = True
    if settings.speech_enabled:
        # Loaded now, not on the first question, so nobody waits seconds mid-conversation;
        # in a thread so /healthz answers meanwhile (/readyz says "not yet").
        threading.Thread(target=_load_speech, args=(app,), daemon=True, name="load-speech").start()
        # Every fixed answer's audio made before the first customer asks, and again after each edit.
        app.state.speech_warmer = SpeechWarmer(services.knowledge, app.state.speaker, configured_voice(settings))
        app.state.speech_warmer.start()


def _load_speech(app: FastAPI) -> None:
    from assistant.speech_vocabulary import recognizer_for

    try:
        # With XIAODIAN_VOSK_GRAMMAR, Vosk hears only what the knowledge base says customers say.
        app.state.recognizer = recognizer_for(app.state.settings, app.state.knowledge)
        app.state.readiness["speech"] = True
        logger.info("speech recogniser ready: %s", app.state.recognizer.name)
    except Exception:  # reported through /readyz; typed questions keep working
        logger.exception("speech recogniser failed to load")


def _database_answers(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:  # any driver error means "not ready", which is the answer asked for
        return False
    return True


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    await run_in_threadpool(_start, app)
    reconciler = asyncio.create_task(reconcile_periodically(app), name="reconcile-payments")
    phone_line = await phone_routes.start_line(app)  # the AudioSocket gateway, when its port is set (issue 12)
    yield
    if phone_line is not None:
        await phone_line.close()
    reconciler.cancel()
    app.state.turn_log_purge.stop()
    if app.state.reminder_scheduler is not None:
        app.state.reminder_scheduler.stop()
    if app.state.speech_warmer is not None:
        app.state.speech_warmer.stop()
    app.state.speaker.close()
    app.state.engine.dispose()


def create_app(settings: Settings | None = None) -> FastAPI:
    app = FastAPI(title="小电 xiaodian", description="供电服务语音助手：自助机、管理、客服", lifespan=lifespan)
    app.state.settings = settings or get_settings()
    # Refuse at once (before serving anything) a setting that would take fake or no money.
    check_payment_settings(app.state.settings)
    app.state.readiness = {"database": False, "knowledge": False, "accounts": False}
    if app.state.settings.speech_enabled:
        app.state.readiness["speech"] = False
    app.state.recognizer = None
    app.state.speech_warmer = None
    app.state.reminder_scheduler = None
    app.state.metrics = Metrics()
    # Admission control (finding 5): speech and WebSockets are bounded, shared by every route.
    app.state.recognition_gate = RecognitionGate(app.state.settings.recognition_slots,
                                                 app.state.settings.recognition_queue, app.state.metrics.recognition)
    app.state.websocket_cap = ConnectionCap(app.state.settings.max_websockets,
                                            app.state.settings.max_websockets_per_client)
    install_error_handlers(app)
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(packages=[("server", "static")]), name="static")
    app.mount("/kiosk/static", StaticFiles(packages=[("kiosk", "static")]), name="kiosk-static")

    # Both are async: a plain `def` would wait for a thread of the shared pool, and under load
    # the health checks must answer at once (speech and turns have limiters of their own).
    @app.get("/healthz", tags=["运行状态"])
    async def healthz() -> dict[str, str]:
        """Alive: the process answers (nothing else is checked)."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["运行状态"])
    async def readyz(request: Request) -> JSONResponse:
        """Ready: start-up finished, every fixed answer's audio is made and the database answers; 503 otherwise."""
        checks = dict(request.app.state.readiness)
        warmer = request.app.state.speech_warmer
        if warmer is not None:  # the first customer's answer is played from the cache, not synthesised
            checks["voice"] = warmer.first_pass_over.is_set()
        if checks.get("database"):
            # In a thread (a pool checkout may block), but not behind the turn limiter.
            checks["database"] = await run_in_threadpool(_database_answers, request.app.state.engine)
        ready = all(checks.values())
        intents = len(request.app.state.knowledge.matcher) if checks.get("knowledge") else 0
        return JSONResponse({"ready": ready, "checks": checks, "intents": intents},
                            status_code=200 if ready else 503)

    @app.get("/metrics", response_class=PlainTextResponse, tags=["运行状态"])
    def metrics(request: Request) -> PlainTextResponse:
        """Prometheus text format, summed over every worker: turns, intents, handoffs, speech admission, latencies."""
        return PlainTextResponse(request.app.state.metrics.render(), media_type=CONTENT_TYPE)

    app.include_router(auth.router)
    app.include_router(admin_router)
    app.include_router(staff.router)
    app.include_router(customer.router)
    app.include_router(payments_admin.router)
    app.include_router(reminders_admin.router)
    app.include_router(phone_routes.router)  # the phone line (issue 12): the PBX registers calls, reads outcomes
    app.include_router(quality_routes.router)  # quality review (issue 15)
    from server.routes import kiosk_device  # issue 13 (device): card reads and the screen the device loop drives
    app.include_router(kiosk_device.router)
    if app.state.settings.payment_provider == "sandbox":  # demo mode only (checked above)
        app.include_router(customer.sandbox_router)
    return app
