"""The ``xiaodian`` command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from assistant.settings import get_settings

app = typer.Typer(help="小电：供电服务语音助手", no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False)
db_app = typer.Typer(help="数据库", no_args_is_help=True)
intents_app = typer.Typer(help="意图", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(intents_app, name="intents")


def _engine():  # type: ignore[no-untyped-def]
    from knowledge_base.db import make_engine

    return make_engine(get_settings().resolved_database_url)


def _knowledge():  # type: ignore[no-untyped-def]
    from assistant.knowledge import Knowledge
    from knowledge_base.seed import seed_database

    engine = _engine()
    seed_database(engine)  # idempotent: a fresh machine works without a separate init
    return Knowledge(engine, get_settings().region)


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
    text: str = typer.Argument(..., help="客户说的话"),
    account: Optional[str] = typer.Option(None, "--account", "-a", help="户号（10位）"),
    as_json: bool = typer.Option(False, "--json", help="输出 JSON"),
) -> None:
    """Answer one question: intent, confidence and the answer text."""
    reply = _knowledge().ask(text, account)
    answer = reply.answer.display if reply.answer else ""
    if as_json:
        typer.echo(json.dumps({**_match_record(reply.match, reply.slots), "answer": answer}, ensure_ascii=False))
        return
    typer.echo(f"意图：{reply.match.intent}（置信度 {reply.match.confidence:.2f}，{reply.match.decision}）")
    typer.echo(f"回答：{answer}")


@intents_app.command("match")
def intents_match(as_json: bool = typer.Option(False, "--json", help="每行输出一个 JSON 对象")) -> None:
    """Match one utterance per line of standard input; one result line each."""
    from datetime import date

    from intents import IntentMatcher, extract_slots
    from knowledge_base.queries import load_snapshot
    from knowledge_base.seed import seed_database

    engine = _engine()
    seed_database(engine)
    matcher = IntentMatcher(load_snapshot(engine, get_settings().region).specs)
    today = date.today()
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
def chat(account: Optional[str] = typer.Option(None, "--account", "-a", help="户号（10位）")) -> None:
    """A text conversation on standard input, one customer line per input line."""
    knowledge = _knowledge()
    if sys.stdin.isatty():
        typer.echo("小电：您好，我是小电。请问有什么可以帮您？（输入“再见”结束）")
    for line in _customer_lines():
        text = line.strip()
        if not text:
            continue
        reply = knowledge.ask(text, account)
        if reply.slots.account and reply.account is not None:
            account = reply.slots.account
        typer.echo(f"小电：{reply.answer.display if reply.answer else ''}")
        if reply.match.intent == "goodbye":
            break


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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
