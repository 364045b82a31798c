"""One intent's editable fields and their one check, for the shipped YAML, its import and the admin's form.

``IntentFields`` names the fields as the ``Intent`` table does; a YAML file
(``data/intents.yaml``, an admin's export) may use its shorter answer keys
(``answer``, ``spoken``, ``answer_account``, ``spoken_account``). ``check_intent``
tidies the fields (trim, drop blank and repeated lines) and lists every problem
in Chinese, in FastAPI's validation-error shape, so every 422 reads the same.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from intents import normalize
from knowledge_base.answer_templates import ACCOUNT_FIELDS, GENERAL_FIELDS, parse_template
from knowledge_base.models import Intent

ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
MIN_EXAMPLES = 3

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


# The shorter names a YAML file uses for the answers (it may use the table's names too).
YAML_KEYS = {"answer_display": "answer", "answer_spoken": "spoken",
             "answer_account_display": "answer_account", "answer_account_spoken": "spoken_account"}


def _answer(table_name: str, default: str | None) -> Any:
    return Field(default, max_length=4000, validation_alias=AliasChoices(table_name, YAML_KEYS[table_name]))


class IntentFields(BaseModel):
    """What an admin edits. Loose on purpose: ``check_intent`` explains problems in Chinese."""

    title: str = Field("", max_length=200)
    description: str = Field("", max_length=1000)
    action: str = Field("", max_length=100)
    needs_account: bool = False
    examples: list[str] = Field(default_factory=list, max_length=500)
    keywords: list[str] = Field(default_factory=list, max_length=200)
    answer_display: str = _answer("answer_display", "")
    answer_spoken: str | None = _answer("answer_spoken", None)
    answer_account_display: str | None = _answer("answer_account_display", None)
    answer_account_spoken: str | None = _answer("answer_account_spoken", None)

    def row_values(self) -> dict[str, Any]:
        """The editable fields under the table's names."""
        return self.model_dump(include=set(IntentFields.model_fields))


class IntentItem(IntentFields):
    """One intent of a YAML file: its id and fields, nothing else."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(max_length=100)

    def yaml_record(self) -> dict[str, Any]:
        """As a YAML file writes it: the shorter answer keys, empty answers left out."""
        values = self.model_dump(exclude={"id"}, exclude_none=True)
        return {"id": self.id, **{YAML_KEYS.get(name, name): value for name, value in values.items()}}


def problem(field: str, message: str, **extra: Any) -> dict[str, Any]:
    """One problem, in FastAPI's validation-error shape."""
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
        errors.append(problem("id", "编号要用小写英文字母开头，只能有小写字母、数字和下划线，2 到 64 位，"
                                    "例如 hall_info。"))
    elif intent_id == "new":  # /admin/intents/new is the creation form
        errors.append(problem("id", "编号不能叫 new，请换一个。"))
    title = fields.title.strip()
    if not title:
        errors.append(problem("title", "请填写标题。"))
    elif len(title) > 40:
        errors.append(problem("title", "标题最多 40 个字。"))
    description = fields.description.strip()
    if len(description) > 200:
        errors.append(problem("description", "说明最多 200 个字。"))

    examples = list(dict.fromkeys(_clean_lines(fields.examples)))
    for example in examples:
        if len(example) > 100:
            errors.append(problem("examples", f"例句“{example[:20]}…”太长了，最多 100 个字。"))
        elif not normalize(example):
            errors.append(problem("examples", f"例句“{example}”里没有可以识别的文字。"))
    # 交电费 and 交电费！ are one example to the matcher: count what it will see.
    distinct = len({normalize(example) for example in examples} - {""})
    if distinct < MIN_EXAMPLES:
        errors.append(problem("examples", f"至少要 {MIN_EXAMPLES} 个不同的例句（现在 {distinct} 个），一行写一句。"))

    keywords = list(dict.fromkeys(_clean_lines(fields.keywords)))
    for keyword in keywords:
        if len(keyword) > 20 or not normalize(keyword):
            errors.append(problem("keywords", f"关键词“{keyword[:20]}”不合适：要有文字，最多 20 个字。"))
    if len(keywords) > 30:
        errors.append(problem("keywords", "关键词最多 30 个。"))

    answers = {
        "answer_display": fields.answer_display.strip(),
        "answer_spoken": _optional(fields.answer_spoken),
        "answer_account_display": _optional(fields.answer_account_display),
        "answer_account_spoken": _optional(fields.answer_account_spoken),
    }
    if not answers["answer_display"]:
        errors.append(problem("answer_display", "请填写回答。"))
    if answers["answer_account_spoken"] and not answers["answer_account_display"]:
        errors.append(problem("answer_account_spoken", "先填写“知道户号时的回答”，再填它的朗读文字。"))
    for field, text in answers.items():
        if not text:
            continue
        allowed = ACCOUNT_FIELDS if field.startswith("answer_account") else GENERAL_FIELDS
        template_problem = (f"{FIELD_LABELS[field]}最多 1000 个字。" if len(text) > 1000
                            else _template_problem(text, allowed, FIELD_LABELS[field]))
        if template_problem:
            errors.append(problem(field, template_problem))

    action = fields.action.strip() or intent_id
    if not ID_PATTERN.match(action):
        errors.append(problem("action", "动作的写法和编号一样：小写字母开头，只有小写字母、数字和下划线。"))

    values = {"title": title, "description": description, "examples": examples, "keywords": keywords,
              **answers, "action": action, "needs_account": fields.needs_account}
    return values, errors


def example_conflicts(examples: list[str], intent_id: str, others: Sequence[Intent]) -> list[dict[str, Any]]:
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
            errors.append(problem("examples", f"例句“{example}”已经属于意图 {other.id}（{other.title}{state}），"
                                              "同一句话不能放在两个意图里。",
                                  conflict={"example": example, "intent_id": other.id, "title": other.title}))
    return errors


def _pydantic_problems(errors: list[Any]) -> list[dict[str, Any]]:
    return [{"loc": list(error.get("loc", ())), "msg": error.get("msg", ""), "type": error.get("type", "")}
            for error in errors]


def read_intent_file(data: Any, existing: Sequence[Intent] = (),
                     explain: Callable[[list[Any]], list[dict[str, Any]]] = _pydantic_problems,
                     ) -> tuple[list[IntentItem], list[dict[str, Any]]]:
    """The checked, tidied intents of a parsed YAML file, and every problem of the whole file.

    ``existing``: the intents already stored; the file's examples must not clash with
    those it leaves alone. ``explain`` turns pydantic's errors into messages (the
    admin's are in Chinese).
    """
    if not isinstance(data, dict) or not isinstance(data.get("intents"), list) or not data["intents"]:
        return [], [problem("file", "文件最外层应当是“intents:”，下面是意图的列表（可以先导出一份看看格式）。")]
    errors: list[dict[str, Any]] = []
    items: list[IntentItem] = []
    for index, raw in enumerate(data["intents"], start=1):
        where = f"第 {index} 个意图" + (f"（{raw['id']}）" if isinstance(raw, dict) and "id" in raw else "")
        try:
            item = IntentItem.model_validate(raw)
        except ValidationError as error:
            for found in explain(list(error.errors())):
                field = str(found["loc"][0]) if found["loc"] else "file"
                label = FIELD_LABELS.get(field, field)
                errors.append(problem(field, f"{where}的“{label}”：{found['msg']}。"))
            continue
        values, problems = check_intent(item.id, item)
        errors.extend(problem(p["loc"][-1], f"{where}：{p['msg']}") for p in problems)
        items.append(IntentItem(id=item.id, **values))
    ids = [item.id for item in items]
    for duplicate in sorted({i for i in ids if ids.count(i) > 1}):
        errors.append(problem("id", f"意图 {duplicate} 在文件里出现了不止一次。"))
    # Conflicts are judged on the result: the file's intents plus the ones it leaves alone
    # (an intent whose id is already refused is not one of them).
    incoming = {item.id: item for item in items if ID_PATTERN.match(item.id)}
    final = [row for row in existing if row.id not in incoming]
    final += [Intent(id=item.id, **item.row_values()) for item in incoming.values()]
    for item in incoming.values():
        for conflict in example_conflicts(item.examples, item.id, final):
            errors.append(problem("examples", f"意图 {item.id}：{conflict['msg']}", conflict=conflict["conflict"]))
    return items, errors
