"""The ``xiaodian`` command line."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from knowledge_base.settings import get_settings

if TYPE_CHECKING:  # each command imports what it uses, so that none waits for another's modules
    from assistant.conversation import ConversationReply, ConversationService
    from assistant.dialogue import Channel
    from assistant.events import Event
    from assistant.pipeline import SpokenInput, TurnRunner, TypedInput, VoicePipeline

app = typer.Typer(help="小电：供电服务语音助手", no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False)
db_app = typer.Typer(help="数据库", no_args_is_help=True)
intents_app = typer.Typer(help="意图", no_args_is_help=True)
models_app = typer.Typer(help="语音模型", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(intents_app, name="intents")
users_app = typer.Typer(help="管理员和客服账号", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(users_app, name="users")
turns_app = typer.Typer(help="对话记录（质检用）", no_args_is_help=True)
app.add_typer(turns_app, name="turns")
payments_app = typer.Typer(help="付款：对账", no_args_is_help=True)
app.add_typer(payments_app, name="payments")
kiosk_app = typer.Typer(help="营业厅自助机（读卡签名的设备密钥）", no_args_is_help=True)
app.add_typer(kiosk_app, name="kiosk")


def _engine():  # type: ignore[no-untyped-def]
    from knowledge_base.db import make_engine

    return make_engine(get_settings().resolved_database_url)


def _knowledge():  # type: ignore[no-untyped-def]
    from assistant.services import build_knowledge

    return build_knowledge(get_settings(), _engine())


@db_app.command("init")
def db_init(no_demo: bool = typer.Option(False, "--no-demo", help="不加载演示户号")) -> None:
    """Create the tables and load the seed data (safe to run again)."""
    from knowledge_base.seed import seed_database

    settings = get_settings()
    report = seed_database(_engine(), include_demo=not no_demo)
    typer.echo(f"数据库：{settings.resolved_database_url}")
    if report.changed:
        for table, count in sorted(report.added.items()):
            typer.echo(f"  新增 {table}: {count}")
        for table, count in sorted(report.updated.items()):
            typer.echo(f"  更新 {table}: {count}")
    else:
        typer.echo("  已是最新，没有改动。")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Upgrade the tables to the newest migration (Alembic), keeping the data; no seeding."""
    from sqlalchemy.engine import make_url

    from knowledge_base.db import migrate

    url = get_settings().resolved_database_url
    result = migrate(_engine())
    typer.echo(f"数据库：{make_url(url).render_as_string(hide_password=True)}")
    if result.adopted:
        typer.echo("  这是迁移功能之前建的数据库：已补齐缺少的表并记录版本，原有数据不动。")
    after = ", ".join(result.after) or "无"
    if result.changed:
        before = ", ".join(result.before) or ("无版本记录" if result.adopted else "空库")
        typer.echo(f"  已升级：{before} → {after}")
    else:
        typer.echo(f"  已是最新版本（{after}），没有改动。")


def _match_record(match, slots) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """The stable JSON contract of ``intents match --json`` (and the head of ``ask --json``)."""
    return {
        "text": match.text,
        "intent": match.intent,
        "confidence": match.confidence,
        "decision": str(match.decision),
        "slots": slots.as_json(),
        "candidates": [[c.intent, c.score] for c in match.candidates],
    }


@app.command()
def ask(
    text: Optional[str] = typer.Argument(None, help="客户说的话（或用 --audio 给一段录音）"),
    account: Optional[str] = typer.Option(None, "--account", "-a", help="户号（10位）"),
    audio: Optional[Path] = typer.Option(None, "--audio", help="WAV 录音：识别、匹配、回答"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="回答语音写到这个 WAV（默认：录音旁的 .answer.wav）"),
    engine: Optional[str] = typer.Option(None, "--engine", help="whisper 或 vosk（默认按设置）"),
    as_json: bool = typer.Option(False, "--json", help="输出 JSON"),
) -> None:
    """Answer one question: typed, the matcher's intent, confidence and answer; with --audio, the
    recording goes through the voice pipeline as at a kiosk (recognition, the dialogue, the answer spoken)."""
    if (text is None) == (audio is None):
        raise typer.BadParameter("请给一句话，或者用 --audio 给一段录音（二选一）。")
    if audio is not None:
        _ask_aloud(audio, account, out or audio.with_suffix(".answer.wav"), engine, as_json)
        return
    assert text is not None
    reply = _knowledge().ask(text, account)
    answer = reply.answer.display if reply.answer else ""
    if as_json:
        typer.echo(json.dumps({**_match_record(reply.match, reply.slots), "answer": answer}, ensure_ascii=False))
        return
    typer.echo(f"意图：{reply.match.intent}（置信度 {reply.match.confidence:.2f}，{reply.match.decision}）")
    typer.echo(f"回答：{answer}")


def _ask_aloud(audio: Path, account: Optional[str], target: Path, engine: Optional[str], as_json: bool) -> None:
    """One recorded turn through ``assistant.pipeline``; ``account`` is named (as if said), not verified."""
    import numpy as np

    from assistant.admission import RecognitionGate
    from assistant.dialogue import Channel
    from assistant.events import AudioChunk, Failed, Replied, Transcribed
    from assistant.pipeline import SpokenInput, VoicePipeline
    from assistant.recordings import keeper_for
    from assistant.services import build_services
    from assistant.speech.audio import Audio, AudioError, read_wav
    from assistant.speech.models import ModelError
    from assistant.speech_vocabulary import recognizer_for

    settings = get_settings()
    services = build_services(settings, provider_required=False)
    try:
        recording = read_wav(audio)
        recognizer = recognizer_for(settings, services.knowledge, engine)
    except (AudioError, ModelError) as error:
        _fail(f"{audio}: {error}")
    conversations = services.conversations
    session_id = conversations.start(Channel.CLI, account, client="cli").id
    keeper = keeper_for(services.engine, settings.recordings_days)  # kept like any spoken turn (issue 15)
    pipeline = VoicePipeline(_conversation_turns(conversations), RecognitionGate(1, 0), recognizer, _speaker(), keeper)
    events = _run_pipeline(pipeline, SpokenInput(recording), session_id=session_id, channel=Channel.CLI)
    if keeper is not None:
        keeper.close()  # written before the command ends
    failed = next((event for event in events if isinstance(event, Failed)), None)
    if failed is not None:
        _fail(f"{audio}: {failed.detail}")
    transcript = next(event.transcript for event in events if isinstance(event, Transcribed))
    reply = next(event.reply for event in events if isinstance(event, Replied))
    chunks = [event.audio for event in events if isinstance(event, AudioChunk)]
    target.write_bytes(Audio(np.concatenate([chunk.samples for chunk in chunks]), chunks[0].rate).wav_bytes())
    if as_json:
        record = {**reply.as_json(), "answer": reply.text, "transcript": transcript.text,
                  "asr_confidence": transcript.confidence, "seconds_decode": transcript.seconds_decode,
                  "answer_wav": str(target)}
        typer.echo(json.dumps(record, ensure_ascii=False))
        return
    typer.echo(f"听到：{transcript.text}")
    typer.echo(f"意图：{reply.intent}（置信度 {reply.confidence:.2f}，{reply.decision}）")
    typer.echo(f"回答：{reply.text}")
    typer.echo(f"语音：{target}")


def _conversation_turns(conversations: ConversationService) -> TurnRunner:
    """The pipeline's turns on the command line: ``ConversationService.handle`` right here (one customer,
    nothing else to serve meanwhile, so no worker thread)."""

    async def turn(session_id: str | None, text: str, channel: Channel, asr_confidence: float | None,
                   client: str, recording: str | None) -> ConversationReply:
        return conversations.handle(session_id, text, channel, None, asr_confidence, client, recording)

    return turn


def _run_pipeline(pipeline: VoicePipeline, source: SpokenInput | TypedInput, **options: Any) -> list[Event]:
    """Every event of one turn through the voice pipeline (``VoicePipeline.run``'s options), for a command."""
    import asyncio

    async def run() -> list[Event]:
        return [event async for event in pipeline.run(source, client="cli", **options)]

    return asyncio.run(run())


def _voice_settings():  # type: ignore[no-untyped-def]
    from assistant.services import configured_voice

    return configured_voice(get_settings())


def _speaker():  # type: ignore[no-untyped-def]
    from assistant.services import make_speaker

    return make_speaker(get_settings())


def _fail(message: str) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(2)


@app.command()
def transcribe(
    files: list[Path] = typer.Argument(..., help="WAV 文件"),
    engine: Optional[str] = typer.Option(None, "--engine", help="whisper 或 vosk（默认按设置）"),
    as_json: bool = typer.Option(False, "--json", help="每个文件输出一行 JSON"),
) -> None:
    """Transcribe WAV files, one line per file."""
    from assistant.speech.audio import AudioError, read_wav
    from assistant.speech.engines import load_recognizer
    from assistant.speech.models import ModelError

    try:
        recognizer = load_recognizer(get_settings(), engine)
    except ModelError as error:
        _fail(str(error))
    failed = False
    for path in files:
        try:
            result = recognizer.transcribe(read_wav(path))
            record = {"file": str(path), "text": result.text, "seconds_audio": result.seconds_audio,
                      "seconds_decode": result.seconds_decode}
        except AudioError as error:
            failed = True
            record = {"file": str(path), "text": "", "error": str(error)}
        if as_json:
            typer.echo(json.dumps(record, ensure_ascii=False))
        else:
            typer.echo(f"{path}\t{record.get('text') or record.get('error')}")
    if failed:
        raise typer.Exit(1)


@app.command()
def say(
    text: str = typer.Argument(..., help="要说的话"),
    out: Path = typer.Option(..., "--out", "-o", help="输出 WAV 文件"),
    rate_8k: bool = typer.Option(False, "--rate-8k", help="8 kHz（电话线路）；默认 16 kHz"),
) -> None:
    """Speak Chinese text into a WAV file with the offline voice."""
    from assistant.speech.audio import AudioError

    try:
        audio = _speaker().speak(text, _voice_settings(), rate=8000 if rate_8k else 16000)
    except AudioError as error:
        _fail(str(error))
    out.write_bytes(audio.wav_bytes())
    typer.echo(f"{out}（{audio.seconds:.1f} 秒，{audio.rate} Hz）")


@models_app.command("add-vosk")
def models_add_vosk(
    path: Path = typer.Argument(..., help="Vosk 模型文件夹或 zip，例如 vosk-model-small-cn-0.22.zip"),
    language: str = typer.Option("zh", "--language", help="模型语言（zh 为普通话）"),
    name: Optional[str] = typer.Option(None, "--name", help="登记名（默认取文件夹名）"),
) -> None:
    """Check a Vosk model and register it in the data folder."""
    from assistant.speech.models import ModelError, add_vosk_model

    try:
        model = add_vosk_model(path, get_settings().data_dir, language=language, name=name)
    except ModelError as error:
        _fail(str(error))
    typer.echo(f"已登记 Vosk 模型 {model.name}（{model.language}，{model.size_bytes // 1_000_000} MB）：{model.path}")


@models_app.command("list")
def models_list() -> None:
    """Registered models, the engine that `auto` would use, and the voices with their licences."""
    from assistant.speech.engines import chosen_engine
    from assistant.speech.models import registered_vosk_models
    from assistant.speech.natural_voice import natural_voice_installed
    from assistant.speech.voices import ESPEAK_LICENCE, NATURAL_LICENCE, choose_voice

    settings = get_settings()
    for model in registered_vosk_models(settings.data_dir):
        typer.echo(f"vosk\t{model.name}\t{model.language}\t{model.path}")
    typer.echo(f"当前识别引擎：{chosen_engine(settings)}")
    installed = {"natural": natural_voice_installed(), "espeak": True}
    for key, licence in (("natural", NATURAL_LICENCE), ("espeak", ESPEAK_LICENCE)):
        typer.echo(f"voice\t{key}\t{'已安装' if installed[key] else '未安装'}\t{licence.engine}")
        typer.echo(f"\t代码许可 code licence: {licence.code_licence}")
        typer.echo(f"\t训练数据 training data: {licence.training_data}")
    typer.echo(f"当前{choose_voice(settings.voice).announcement}")


@models_app.command("prepare")
def models_prepare() -> None:
    """Assemble and verify the Whisper model, then load the chosen recogniser once."""
    from assistant.speech.engines import chosen_engine, load_recognizer
    from assistant.speech.models import ModelError
    from assistant.speech.whisper_engine import assemble_whisper_base

    settings = get_settings()
    try:
        folder = assemble_whisper_base(settings.data_dir)
        recognizer = load_recognizer(settings)
    except ModelError as error:
        _fail(str(error))
    typer.echo(f"Whisper 模型：{folder}（已校验）")
    typer.echo(f"语音识别就绪：{chosen_engine(settings)}，加载 {getattr(recognizer, 'load_seconds', 0):.1f} 秒")
    _prepare_voice(settings.voice)


def _prepare_voice(setting: str) -> None:
    """Start the chosen voice once, so a broken voice shows here and not in front of a customer."""
    from assistant.speech.audio import AudioError
    from assistant.speech.natural_voice import NaturalVoice
    from assistant.speech.voices import choose_voice

    choice = choose_voice(setting)
    typer.echo(choice.announcement)
    if isinstance(choice.voice, NaturalVoice):
        try:
            status = choice.voice.process.start()
        except AudioError as error:
            _fail(f"{error}（自然音色启动失败；可设 XIAODIAN_VOICE=espeak 先用机器音）")
        finally:
            choice.voice.close()
        typer.echo(f"自然音色就绪：{status.interpreter}，加载 {status.load_seconds:.1f} 秒")


@intents_app.command("match")
def intents_match(as_json: bool = typer.Option(False, "--json", help="每行输出一个 JSON 对象")) -> None:
    """Match one utterance per line of standard input; one result line each."""
    from intents import extract_slots
    from knowledge_base.models import service_today

    matcher = _knowledge().matcher
    today = service_today()
    for line in sys.stdin:
        text = line.rstrip("\r\n")
        match = matcher.match(text)
        if as_json:
            record = _match_record(match, extract_slots(match.normalized, today))
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
        else:
            sys.stdout.write(f"{match.intent}\t{match.confidence:.3f}\t{match.decision}\t{text}\n")
        sys.stdout.flush()


@app.command()
def chat(
    account: Optional[str] = typer.Option(None, "--account", "-a",
                                          help="读卡得到的户号（10位）：本机终端上算作已核实身份，和自助机刷卡一样"),
    named: Optional[str] = typer.Option(None, "--named", help="只说出的户号（10位）：未核实身份，只能查应缴金额和付款"),
    caller_phone: Optional[str] = typer.Option(None, "--caller-phone", help="来电号码：和登记手机号一致就算核实身份（电话渠道）"),
    channel: str = typer.Option("cli", "--channel", help="kiosk、phone、web 或 cli"),
    as_json: bool = typer.Option(False, "--json", help="每轮输出一行 JSON"),
) -> None:
    """A conversation on standard input, one customer line per input line (typed or piped).

    The terminal runs on the server, whose operator has the database anyway, so ``--account``
    stands for a card read at a kiosk: that account, verified. ``--named`` only names the
    account, as saying the 户号 would; ``--caller-phone`` verifies as the phone line does.
    Each line goes through the voice pipeline as typed text, up to the reply (no voice).
    """
    from assistant.events import Replied
    from assistant.pipeline import Stage, TypedInput, VoicePipeline
    from assistant.services import build_services

    conversations = build_services(get_settings(), provider_required=False).conversations
    pipeline = VoicePipeline(_conversation_turns(conversations))
    if caller_phone and channel == "cli":
        channel = "phone"  # a caller number only exists on the phone line
    state = conversations.start(channel, named, caller_phone, client="cli")
    if account:
        conversations.present_card(state.id, channel, account, client="cli")
    if sys.stdin.isatty() and not as_json:
        typer.echo("小电：您好，我是小电。请问有什么可以帮您？（说“再见”结束）")
    for line in _customer_lines():
        text = line.strip()
        if not text:
            continue
        events = _run_pipeline(pipeline, TypedInput(text), session_id=state.id, channel=state.channel,
                               until=Stage.REPLY)
        reply = next(event.reply for event in events if isinstance(event, Replied))
        if as_json:
            typer.echo(json.dumps(reply.as_json(), ensure_ascii=False))
        else:
            typer.echo(f"小电：{reply.text}")
            if reply.pay_url:
                typer.echo(f"      付款链接：{reply.pay_url}")
            if reply.share_text:
                typer.echo(f"      转发给家人：{reply.share_text}")
            if reply.handoff:
                typer.echo(f"      （已转人工，工单 {reply.handoff.ticket_id}）")
        if reply.end:
            break


@kiosk_app.command("add-device")
def kiosk_add_device(
    name: str = typer.Argument(..., help="设备名，例如 jiangdu-hall-1"),
    hall: str = typer.Option("", "--hall", help="所在营业厅"),
    key_file: Optional[Path] = typer.Option(None, "--key-file", help="私钥文件写到哪里（默认 ./kiosk-设备名.pem）"),
) -> None:
    """Register a kiosk: a new Ed25519 key pair; the server keeps the public key, the private key goes to the kiosk PC."""
    import re

    from assistant.kiosk_devices import add_device

    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name):
        _fail("设备名只能用字母、数字、点、下划线和短横线，最长64个字符。")
    path = key_file or Path(f"kiosk-{name}.pem")
    if path.exists():
        _fail(f"{path} 已经存在，不会覆盖。请换一个 --key-file。")
    try:
        add_device(_engine_with_tables(), name, path, hall)
    except ValueError:
        _fail(f"设备 {name} 已经登记过了。")
    typer.echo(f"已登记设备 {name}。私钥已写到 {path}（只有本用户可读）。")
    typer.echo("请把它拷到这台自助机上，然后从这里删掉。")


def _customer_lines():  # type: ignore[no-untyped-def]
    """Lines typed at a prompt by a person, or piped in by a script."""
    if not sys.stdin.isatty():
        yield from sys.stdin
        return
    while True:
        try:
            yield input("您：")
        except (EOFError, KeyboardInterrupt):
            return


def _new_password(generate: bool) -> tuple[str, bool]:
    """The password typed twice at a prompt, or a generated one; True when generated."""
    from assistant.accounts import MIN_PASSWORD_LENGTH, generate_password

    if generate:
        return generate_password(), True
    password = typer.prompt(f"密码（至少 {MIN_PASSWORD_LENGTH} 位）", hide_input=True, confirmation_prompt="再输入一次")
    return password, False


@users_app.command("add")
def users_add(
    name: str = typer.Argument(..., help="用户名（登录时用）"),
    role: str = typer.Option(..., "--role", help="admin（管理员）、staff（客服）或 reviewer（质检员）"),
    generate: bool = typer.Option(False, "--generate", "-g", help="不输入密码，生成一个随机密码并显示一次"),
) -> None:
    """Add an admin or staff account (asks for the password, or generates one)."""
    from assistant.accounts import ROLE_LABELS, AccountError, create_user

    password, generated = _new_password(generate)
    try:
        create_user(_engine_with_tables(), name, role, password, actor="cli")
    except AccountError as error:
        _fail(str(error))
    typer.echo(f"已添加{ROLE_LABELS[role]} {name.strip()}。")
    if generated:
        typer.echo(f"密码：{password}（只显示这一次，请转交本人）")


@users_app.command("passwd")
def users_passwd(
    name: str = typer.Argument(..., help="用户名"),
    generate: bool = typer.Option(False, "--generate", "-g", help="生成一个随机密码并显示一次"),
) -> None:
    """Set a new password; the user's open sessions end."""
    from assistant.accounts import AccountError, set_password

    password, generated = _new_password(generate)
    try:
        set_password(_engine_with_tables(), name, password, actor="cli")
    except AccountError as error:
        _fail(str(error))
    typer.echo(f"已修改 {name} 的密码，原来的登录都已退出。")
    if generated:
        typer.echo(f"新密码：{password}（只显示这一次，请转交本人）")


@users_app.command("list")
def users_list() -> None:
    """Every account: name, role, state."""
    from assistant.accounts import ROLE_LABELS, list_users

    for user in list_users(_engine_with_tables()):
        state = "已停用" if user.disabled else "正常"
        typer.echo(f"{user.name}\t{ROLE_LABELS.get(user.role, user.role)}\t{state}")


def _engine_with_tables():  # type: ignore[no-untyped-def]
    """Accounts may be added before the server ever ran: make the tables first."""
    from knowledge_base.db import migrate

    engine = _engine()
    migrate(engine)
    return engine


@turns_app.command("purge")
def turns_purge() -> None:
    """Delete turn-log rows older than XIAODIAN_TURN_LOG_DAYS days (the server also does it daily)."""
    from assistant.retention import purge_recordings, purge_turn_log

    days = get_settings().turn_log_days
    engine = _engine_with_tables()
    removed = purge_turn_log(engine, days)
    typer.echo(f"已删除 {removed} 条超过 {days} 天的对话记录。")
    recordings_days = get_settings().recordings_days
    typer.echo(f"已删除 {purge_recordings(engine, recordings_days)} 段超过 {recordings_days} 天的客户录音。")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="监听地址（0.0.0.0 让局域网里的其他电脑也能访问）"),
    port: int = typer.Option(8000, "--port", help="端口"),
    workers: int = typer.Option(1, "--workers", min=1, max=64, help="工作进程数（每个 CPU 核一个左右）"),
    log_level: str = typer.Option("info", "--log-level", help="日志级别：debug、info、warning、error"),
    access_log: bool = typer.Option(True, "--access-log/--no-access-log", help="是否逐条记录访问日志"),
) -> None:
    """Start the web service: kiosk page at /, admin at /admin, staff at /staff."""
    import shutil

    from assistant.log_redaction import uvicorn_log_config
    from assistant.providers import check_payment_settings
    from assistant.worker_processes import PortInUse, ServeOptions, serve_workers
    from knowledge_base.db import make_engine
    from knowledge_base.seed import seed_database

    settings = _served_public_address(host, port)  # issue 13 (device): links name the address really served
    check_payment_settings(settings)  # a refused setting stops here, before anything is touched
    # Every worker writes its metrics here and /metrics adds them up (prometheus_client's
    # multiprocess mode); the files of the last run would be added too, so the folder starts
    # empty. Set before anything imports prometheus_client, which reads it once.
    metrics_dir = settings.data_dir / "metrics"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(mode=0o700, parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    # Migrations and seeding once, here, before N workers start (each would find them done).
    engine = make_engine(settings.resolved_database_url)
    seed_database(engine)
    engine.dispose()
    typer.echo(f"小电服务启动中：http://{host}:{port}/  （{workers} 个工作进程；管理 /admin，客服 /staff，按 Ctrl+C 停止）")
    # The log config redacts pay tokens.
    options = ServeOptions("server.app:create_app", host, port, log_level, access_log,
                           settings.shutdown_grace_s, uvicorn_log_config())
    if workers == 1:
        import uvicorn

        uvicorn.Server(options.uvicorn_config()).run()
        return
    try:
        code = serve_workers(options, workers)
    except PortInUse as error:
        typer.echo(f"无法启动：{error}。请换一个端口（--port），或先停掉占用它的程序。", err=True)
        raise typer.Exit(code=1)
    raise typer.Exit(code=code)


def _served_public_address(host: str, port: int):  # type: ignore[no-untyped-def]
    """The settings with XIAODIAN_PUBLIC_URL checked against --host/--port, or derived from them when unset
    (assistant/public_address.py); a mismatch stops here, with what to set."""
    from assistant.public_address import PublicAddressMismatch, public_address

    settings = get_settings()
    configured = settings.public_url if "public_url" in settings.model_fields_set else None
    try:
        url = public_address(configured, host, port, behind_proxy=bool(settings.trusted_proxy_set))
    except PublicAddressMismatch as error:
        typer.echo(f"无法启动：{error}", err=True)
        raise typer.Exit(code=2)
    os.environ["XIAODIAN_PUBLIC_URL"] = url  # the workers (and this process's app) read it from here
    get_settings.cache_clear()
    return get_settings()


@payments_app.command("reconcile")
def payments_reconcile(
    older_than_minutes: Optional[float] = typer.Option(
        None, "--older-than-minutes", help="只查询进入支付超过这么多分钟的链接（默认 XIAODIAN_RECONCILE_AFTER_MINUTES）"),
) -> None:
    """Ask the payment provider about links stuck in paying and record what was paid (the server does it too)."""
    from datetime import timedelta

    from assistant.services import build_services

    settings = get_settings()
    minutes = settings.reconcile_after_minutes if older_than_minutes is None else older_than_minutes
    report = build_services(settings).payments.reconcile(timedelta(minutes=minutes))
    refunds = sum(result.refund_needed for result in report.recorded)
    typer.echo(f"查询 {report.checked} 个付款中的链接：补记付款 {len(report.recorded) - refunds} 笔，"
               f"待退款 {refunds} 笔，过期关闭 {report.expired} 个，支付平台暂时连不上 {report.unavailable} 次。")
    if report.unavailable:
        raise typer.Exit(code=1)


# issue 13 (device): the kiosk's microphone/speaker loop, its devices, page address and card reader
from assistant.cli_kiosk import register as _register_kiosk_loop  # noqa: E402

_register_kiosk_loop(kiosk_app)


# Daily reminders and generated demo accounts (issue 14).
from assistant.cli_reminders import demo_app, reminders_app  # noqa: E402

app.add_typer(reminders_app, name="reminders")
app.add_typer(demo_app, name="demo")


# Quality review: the daily report, figures and sample (issue 15).
from assistant.cli_quality import quality_app  # noqa: E402

app.add_typer(quality_app, name="quality")


# The phone line: the AudioSocket gateway and the PBX's token (issue 12).
from assistant.cli_phone import phone_app  # noqa: E402

app.add_typer(phone_app, name="phone")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
