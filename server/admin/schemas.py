"""The admin API's request and response bodies (the editable fields are ``knowledge_base.intent_schema``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from knowledge_base.intent_schema import IntentFields


class IntentCreate(IntentFields):
    id: str = Field("", max_length=100)


class IntentUpdate(IntentFields):
    version: int  # the version the form was loaded with


class VersionBody(BaseModel):
    version: int


class IntentView(IntentFields):
    """An intent as stored, for the form and the API."""

    id: str
    enabled: bool
    essential: bool  # may be edited but not disabled (intents.ids.ESSENTIAL)
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
    answer: str = Field(description="客户在自助机屏幕上看到的回答（和自助机第一句的回答相同）")
    spoken: str = Field(default="", description="客户听到的话")
    choices: list[str] = Field(default_factory=list, description="屏幕上给客户选的编号选项")


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
