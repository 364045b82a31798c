"""``xiaodian phone``: the AudioSocket gateway on its own (``xiaodian serve`` starts it too when
``XIAODIAN_AUDIOSOCKET_PORT`` is set), and ``xiaodian phone token`` for the PBX's dialplan."""

from __future__ import annotations

import asyncio
from typing import Optional

import typer

from knowledge_base.settings import get_settings

phone_app = typer.Typer(help="电话线路（Asterisk AudioSocket）", invoke_without_command=True)


@phone_app.callback()
def phone(
    context: typer.Context,
    host: Optional[str] = typer.Option(None, "--host", help="监听地址（默认 XIAODIAN_AUDIOSOCKET_HOST）"),
    port: Optional[int] = typer.Option(None, "--port", help="AudioSocket 端口（默认 XIAODIAN_AUDIOSOCKET_PORT，否则 9092）"),
) -> None:
    """Run the phone line's gateway until Ctrl+C: Asterisk's AudioSocket() connects here."""
    if context.invoked_subcommand is not None:
        return
    import logging

    from assistant.log_redaction import install_log_redaction
    from assistant.phone.line import build_line, standalone_pipeline
    from assistant.services import build_services, make_speaker
    from assistant.speech_vocabulary import recognizer_for

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    install_log_redaction()
    settings = get_settings()
    services = build_services(settings)
    speaker = make_speaker(settings)
    recognizer = recognizer_for(settings, services.knowledge)  # loaded before the first call, not during it
    line = build_line(settings, services, speaker, standalone_pipeline(settings, services, speaker, recognizer))
    line.warm()
    listen_host, listen_port = host or settings.audiosocket_host, port or settings.audiosocket_port or 9092

    async def run() -> None:
        await line.start(listen_host, listen_port)
        typer.echo(f"电话线路已启动：AudioSocket {listen_host}:{line.port}，最多同时 {line.config.max_calls} 路通话"
                   "（按 Ctrl+C 停止）")
        try:
            await asyncio.Event().wait()
        finally:
            await line.close()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    finally:
        speaker.close()


@phone_app.command("token")
def token() -> None:
    """Print the token the PBX sends to register calls (made in the data folder on first use)."""
    from assistant.phone.line import pbx_token

    typer.echo(pbx_token(get_settings()))
