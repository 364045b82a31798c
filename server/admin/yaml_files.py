"""The intents as a YAML file, in the schema of knowledge_base/data/intents.yaml: export and import."""

from __future__ import annotations

from typing import Any

import yaml

from knowledge_base.intent_schema import IntentItem, problem, read_intent_file
from knowledge_base.models import Intent, service_tz, utc_now
from server.errors import chinese_validation_errors


def export_yaml(rows: list[Intent]) -> str:
    """All intents in the schema of knowledge_base/data/intents.yaml (what import reads back)."""
    items = [IntentItem.model_validate(row, from_attributes=True).yaml_record() for row in rows]
    stamp = utc_now().astimezone(service_tz()).strftime("%Y-%m-%d %H:%M")
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


def parse_import(text: str, existing: list[Intent]) -> tuple[list[IntentItem], list[dict[str, Any]]]:
    """Read and check a YAML file; every problem of the whole file is reported, nothing is half-done."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        return [], [problem("file", f"YAML 格式不对（{_yaml_error_line(error)}），请检查缩进和冒号。")]
    return read_intent_file(data, existing, explain=chinese_validation_errors)
