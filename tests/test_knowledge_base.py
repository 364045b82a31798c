"""Seeding against a real SQLite file, and the shipped knowledge itself."""

import ast
import csv
import shutil
from collections import Counter
from pathlib import Path

import pytest
import yaml
from sqlmodel import select

from intents import ids
from intents.normalize import normalize
from knowledge_base.db import make_engine, session
from knowledge_base.models import Account, Bill, Intent, PlannedOutage, Tariff
from knowledge_base.seed import DATA_DIR, SeedError, load_intent_seeds, seed_database
from tests.conftest import TODAY, eval_file


def table_counts(engine) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with session(engine) as db:
        return {model.__name__: len(db.exec(select(model)).all()) for model in (Intent, Tariff, Account, Bill, PlannedOutage)}


def test_seeding_twice_changes_nothing(engine) -> None:  # type: ignore[no-untyped-def]
    before = table_counts(engine)
    with session(engine) as db:
        stamps = {i.id: (i.updated_at, i.version) for i in db.exec(select(Intent))}
    report = seed_database(engine, today=TODAY)
    assert not report.changed
    assert table_counts(engine) == before
    with session(engine) as db:
        assert {i.id: (i.updated_at, i.version) for i in db.exec(select(Intent))} == stamps


def test_seeding_on_a_later_day_keeps_demo_data_as_created(engine) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    before = table_counts(engine)
    assert not seed_database(engine, today=TODAY + timedelta(days=40)).changed
    assert table_counts(engine) == before


def test_admin_edit_survives_seeding(engine) -> None:  # type: ignore[no-untyped-def]
    with session(engine) as db:
        intent = db.get(Intent, "hall_info")
        intent.answer_display = "营业厅今天装修，请到隔壁办理。"
        intent.origin = "admin"
        db.add(intent)
        db.commit()
    seed_database(engine, today=TODAY)
    with session(engine) as db:
        assert db.get(Intent, "hall_info").answer_display == "营业厅今天装修，请到隔壁办理。"


def test_seed_intent_follows_a_shipped_fix(engine) -> None:  # type: ignore[no-untyped-def]
    with session(engine) as db:
        intent = db.get(Intent, "greeting")
        intent.answer_display = "旧的回答"
        db.add(intent)
        db.commit()
    report = seed_database(engine, today=TODAY)
    assert report.updated == {"intent": 1}
    with session(engine) as db:
        assert db.get(Intent, "greeting").answer_display != "旧的回答"


def test_demo_account_as_promised(engine) -> None:  # type: ignore[no-untyped-def]
    with session(engine) as db:
        account = db.get(Account, "3201000001")
        bills = db.exec(select(Bill).where(Bill.account_number == "3201000001").order_by(Bill.month)).all()
        outages = db.exec(select(PlannedOutage)).all()
    assert (account.area, account.category, account.balance_fen, account.demo) == ("扬州市江都区", "residential", 0, True)
    last = bills[-1]
    assert (last.month, last.amount_fen, last.paid_at) == ("2026-10", 12850, None)
    assert any(o.starts_at.date().isoformat() in ("2026-11-23", "2026-11-22") for o in outages)


def test_database_file_is_real_sqlite(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "kb.db"
    engine = make_engine(f"sqlite:///{path}")
    seed_database(engine, today=TODAY)
    engine.dispose()
    assert path.read_bytes()[:16] == b"SQLite format 3\x00"


def test_every_catalogue_intent_exists_with_enough_examples() -> None:
    with eval_file("intents.tsv").open(encoding="utf-8") as handle:
        catalogue = {row["intent"] for row in csv.DictReader(handle, delimiter="\t")}
    seeds = {s.id: s for s in load_intent_seeds()}
    assert catalogue <= seeds.keys()
    for intent_id in catalogue:
        seed = seeds[intent_id]
        assert len(seed.examples) >= 8, intent_id
        assert seed.keywords, intent_id
        assert seed.answer_display, intent_id


def test_no_example_belongs_to_two_intents() -> None:
    owners = Counter(example for s in load_intent_seeds() for example in {normalize(e) for e in s.examples})
    assert [e for e, n in owners.items() if n > 1] == []


def test_measuring_set_is_not_pasted_into_the_knowledge_base() -> None:
    with eval_file("dev.tsv").open(encoding="utf-8") as handle:
        measured = {normalize(row["text"]) for row in csv.DictReader(handle, delimiter="\t")}
    shipped = {normalize(e) for s in load_intent_seeds() for e in s.examples}
    # The shortest commonplaces (对, 不是, 再见, 交电费) are the canonical way to
    # say the thing and belong in any knowledge base; sentences do not.
    assert {t for t in measured & shipped if len(t) > 3} == set()


def test_every_intent_id_the_code_names_is_in_the_shipped_yaml() -> None:
    shipped = {item["id"] for item in yaml.safe_load((DATA_DIR / "intents.yaml").read_text(encoding="utf-8"))["intents"]}
    assert ids.NAMED_IN_CODE <= shipped, sorted(ids.NAMED_IN_CODE - shipped)


def test_the_policy_names_intents_only_through_the_ids_module() -> None:
    """A quoted id in the policy would escape the check above."""
    tree = ast.parse((Path(__file__).parent.parent / "assistant" / "dialogue.py").read_text(encoding="utf-8"))
    shipped = {seed.id for seed in load_intent_seeds()}
    # Handoff reasons share a few words with intent ids; they are an enumeration of their own.
    reasons = next(node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "HandoffReason")
    in_reasons = {id(node) for node in ast.walk(reasons)}
    quoted = {node.value for node in ast.walk(tree)
              if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in in_reasons}
    assert quoted & (shipped - {ids.OUT_OF_SCOPE}) == set()


def test_seeding_refuses_a_yaml_without_an_intent_the_code_needs(tmp_path: Path) -> None:
    shutil.copytree(DATA_DIR, tmp_path, dirs_exist_ok=True)
    path = tmp_path / "intents.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["intents"] = [item for item in data["intents"] if item["id"] != ids.HUMAN_AGENT]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(SeedError, match=ids.HUMAN_AGENT):
        load_intent_seeds(tmp_path)
