"""``xiaodian kiosk run|devices|page-url|card``: the hall kiosk's device loop and its helpers.

The loop itself is an edge adapter (``kiosk/device.py``); this composition root names it by module
path, as ``xiaodian serve`` names ``server.app:create_app``, so that the ``assistant`` layer never
imports the ``kiosk`` layer above it (tests/test_layers.py).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Optional

import typer

from knowledge_base.settings import get_settings

NO_DEVICE_EXIT = 3
NO_SERVICE_EXIT = 4


def _device_module() -> ModuleType:
    return importlib.import_module("kiosk.device")


def register(kiosk_app: typer.Typer) -> None:
    """Add the loop's commands to ``xiaodian kiosk``; bare ``xiaodian kiosk`` runs the loop."""
    kiosk_app.info.no_args_is_help = False
    kiosk_app.callback(invoke_without_command=True)(_kiosk_default)
    kiosk_app.command("run")(kiosk_run)
    kiosk_app.command("devices")(kiosk_devices)
    kiosk_app.command("page-url")(kiosk_page_url)
    kiosk_app.command("card")(kiosk_card)


def _kiosk_default(context: typer.Context) -> None:
    """营业厅自助机：不带子命令时运行麦克风和扬声器的对话循环（等于 xiaodian kiosk run）。"""
    if context.invoked_subcommand is None:
        import inspect

        # run with every option at its default (each parameter's default is its typer.Option)
        kiosk_run(**{name: parameter.default.default
                     for name, parameter in inspect.signature(kiosk_run).parameters.items()})


def _fail(message: str, code: int) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def kiosk_devices() -> None:
    """List the sound devices: index, inputs, outputs, name (for --mic and --speaker)."""
    device = _device_module()
    try:
        found = device.list_devices()
    except device.NoAudioDevice as error:
        _fail(str(error), NO_DEVICE_EXIT)
    if not found:
        _fail(f"这台电脑没有找到任何声音设备（麦克风或扬声器）。\n{device.NO_DEVICE_HINT}", NO_DEVICE_EXIT)
    typer.echo("编号\t录音\t放音\t名称")
    for item in found:
        typer.echo(f"{item.index}\t{item.inputs}\t{item.outputs}\t{item.name}")


def kiosk_run(
    server: Optional[str] = typer.Option(None, "--server", help="小电服务的地址（默认 XIAODIAN_PUBLIC_URL）"),
    device_name: Optional[str] = typer.Option(None, "--device", help="登记过的设备名（读卡和屏幕同步要用）"),
    key_file: Optional[Path] = typer.Option(None, "--key-file", help="这台自助机的设备私钥（xiaodian kiosk add-device 生成）"),
    inputs: Optional[list[Path]] = typer.Option(None, "--input", help="不用麦克风，播放这些录音（WAV，可给多个，按顺序一问一答）"),
    output: Optional[Path] = typer.Option(None, "--output", help="不用扬声器，把每个回答写成这个文件夹里的 WAV"),
    mic: Optional[str] = typer.Option(None, "--mic", help="麦克风：编号或名称的一部分（见 xiaodian kiosk devices）"),
    speaker: Optional[str] = typer.Option(None, "--speaker", help="扬声器：编号或名称的一部分"),
    push_to_talk: bool = typer.Option(False, "--push-to-talk", help="按回车键开始说话，再按一次结束（不按时不听）"),
    barge_in: bool = typer.Option(True, "--barge-in/--no-barge-in",
                                  help="客户一说话就停止播放（需要带回声消除的麦克风；关掉时播放中不听）"),
    card_socket: Optional[Path] = typer.Option(None, "--card-socket", help="读卡器程序把读卡交到这个 Unix 套接字"),
    idle_reset: float = typer.Option(90.0, "--idle-reset", min=10, help="多少秒没人说话就结束这次对话，下一位重新开始"),
    lead_in: float = typer.Option(0.5, "--lead-in", min=0, max=60, help="用录音文件时，第一段录音前先安静几秒（比如先刷卡）"),
    as_json: bool = typer.Option(False, "--json", help="每轮输出一行 JSON"),
) -> None:
    """The kiosk's microphone/speaker loop over the running service (its page follows the same conversation)."""
    device = _device_module()
    settings = get_settings()
    identity = None
    if (device_name is None) != (key_file is None):
        _fail("--device 和 --key-file 要一起给（读卡和屏幕同步都要用设备私钥签名）。", 2)
    if device_name is not None and key_file is not None:
        try:
            identity = device.DeviceIdentity.load(device_name, key_file)
        except ValueError as error:
            _fail(str(error), 2)
    files = list(inputs or [])
    if push_to_talk and not sys.stdin.isatty():
        _fail("--push-to-talk 要用键盘的回车键：请在终端里运行（systemd 里用 TTYPath= 把键盘接给它）。", 2)
    from assistant.speech.audio import AudioError

    try:
        answered = asyncio.Event()
        source = device.FileSource(files, answered, lead_in) if files else device.MicrophoneSource(device.choose_device(mic, "input"))
        sink = device.FolderSink(output) if output is not None else device.SpeakerSink(device.choose_device(speaker, "output"))
    except device.NoAudioDevice as error:
        _fail(str(error), NO_DEVICE_EXIT)
    except AudioError as error:
        _fail(f"录音文件不能用：{error}", 2)

    def told(turn) -> None:  # type: ignore[no-untyped-def]
        if as_json:
            typer.echo(json.dumps(turn.as_json(), ensure_ascii=False))
            return
        typer.echo(f"听到：{turn.heard}")
        typer.echo(f"小电：{turn.answer}")
        if turn.end_of_speech_to_first_audio_s is not None:
            typer.echo(f"      （说完到开始出声 {turn.end_of_speech_to_first_audio_s:.2f} 秒）")
        if turn.wav:
            typer.echo(f"      语音：{turn.wav}")

    options = device.LoopOptions(server=server or settings.public_url, identity=identity, barge_in=barge_in,
                                 push_to_talk=push_to_talk, idle_reset_s=idle_reset, card_socket=card_socket,
                                 end_silence_s=settings.end_silence_s, once=bool(files))
    loop = device.DeviceLoop(options, source, sink, on_turn=told, answered=answered)
    if not as_json:
        where = "录音文件" if files else "麦克风"
        typer.echo(f"小电自助机：{where} → {options.server}（按 Ctrl+C 停止）", err=True)
    try:
        asyncio.run(_run_with_keys(loop, push_to_talk))
    except device.ServiceUnreachable as error:
        _fail(str(error), NO_SERVICE_EXIT)
    except device.Unanswered as error:
        _fail(str(error), NO_SERVICE_EXIT)
    except device.NoAudioDevice as error:
        _fail(str(error), NO_DEVICE_EXIT)
    except KeyboardInterrupt:
        raise typer.Exit(0)
    if output is not None:
        (output / "turns.json").write_text(json.dumps([turn.as_json() for turn in loop.turns], ensure_ascii=False,
                                                      indent=1), encoding="utf-8")


async def _run_with_keys(loop, push_to_talk: bool):  # type: ignore[no-untyped-def]
    """The loop, with the push-to-talk key (Enter on the kiosk's keyboard or a button that types it)."""
    if push_to_talk:
        running = asyncio.get_running_loop()
        running.add_reader(sys.stdin.fileno(), lambda: (sys.stdin.readline(), loop.toggle_talking()))
    return await loop.run()


def kiosk_page_url(
    device_name: str = typer.Option(..., "--device", help="登记过的设备名"),
    key_file: Path = typer.Option(..., "--key-file", help="这台自助机的设备私钥"),
    server: Optional[str] = typer.Option(None, "--server", help="小电服务的地址（默认 XIAODIAN_PUBLIC_URL）"),
) -> None:
    """The kiosk page's address for this device: the page then follows the device loop's conversation."""
    from urllib.parse import urlencode

    device = _device_module()
    try:
        identity = device.DeviceIdentity.load(device_name, key_file)
    except ValueError as error:
        _fail(str(error), 2)
    base = (server or get_settings().public_url).rstrip("/")
    # The key travels in the fragment: it never reaches a server log or a Referer; the page reads it.
    typer.echo(f"{base}/?{urlencode({'device': device_name})}#screen={identity.screen_key}")


def kiosk_card(
    account: str = typer.Argument(..., help="卡上的十位户号"),
    socket_path: Path = typer.Option(..., "--socket", help="自助机循环的读卡套接字（--card-socket）"),
) -> None:
    """Hand a card read to the running kiosk loop, as the hall's card reader process does."""

    async def hand_over() -> dict[str, object]:
        reader, writer = await asyncio.open_unix_connection(str(socket_path))
        writer.write((json.dumps({"account": account}) + "\n").encode())
        await writer.drain()
        answer = json.loads(await asyncio.wait_for(reader.readline(), 15))
        writer.close()
        return answer

    try:
        answer = asyncio.run(hand_over())
    except (OSError, ValueError, asyncio.TimeoutError) as error:
        _fail(f"读卡没有交给自助机：{error}", 1)
    if not answer.get("ok"):
        _fail(f"读卡没有通过：{answer.get('detail')}", 1)
    typer.echo(f"已识别：{answer.get('holder')}")
