"""Prometheus metrics through ``prometheus_client``, right across worker processes.

``xiaodian serve --workers N`` sets ``PROMETHEUS_MULTIPROC_DIR`` (a fresh folder in the data
folder) before the workers start: each worker then writes its counts to files there, and
whichever worker answers ``/metrics`` adds up every worker's files. Without that variable
(one process: tests, ``uvicorn --factory``) the counts live in this process.

The metric objects are module-level, as ``prometheus_client`` wants: one set per process,
shared by every app built in it.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import REGISTRY
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

_TURNS = Counter("xiaodian_turns", "Conversation turns", ["channel"])
_INTENTS = Counter("xiaodian_intents", "Turns by matched intent", ["intent"])
_HANDOFFS = Counter("xiaodian_handoffs", "Handoffs to staff by reason", ["reason"])
_RECOGNITIONS = Counter("xiaodian_recognitions", "Speech recognitions by admission outcome: "
                        "started, dropped (client left while waiting), stopped (client left mid-decode), "
                        "refused (told to try again)", ["outcome"])
_DURATIONS = {name: Histogram(name, help_text, buckets=LATENCY_BUCKETS) for name, help_text in (
    ("xiaodian_turn_seconds", "Conversation turn duration in seconds"),
    ("xiaodian_asr_seconds", "Speech recognition (decoding) duration in seconds"),
    ("xiaodian_tts_seconds", "Speech synthesis duration in seconds"),
)}


class Metrics:
    """What the service counts; ``render`` is what /metrics returns."""

    def turn(self, channel: str, intent: str, seconds: float, handoff_reason: str | None = None) -> None:
        _TURNS.labels(channel).inc()
        _INTENTS.labels(intent).inc()
        if handoff_reason:
            _HANDOFFS.labels(handoff_reason).inc()
        _DURATIONS["xiaodian_turn_seconds"].observe(seconds)

    def timing(self, name: str, seconds: float) -> None:
        _DURATIONS[name].observe(seconds)

    def recognition(self, outcome: str) -> None:
        """An outcome of the speech admission gate (``assistant.admission.RecognitionGate``)."""
        _RECOGNITIONS.labels(outcome).inc()

    def render(self) -> bytes:
        if os.environ.get(MULTIPROCESS_DIR_VARIABLE):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(REGISTRY)
