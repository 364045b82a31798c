"""Prometheus text-format metrics, kept in process (no extra dependency)."""

from __future__ import annotations

import threading
from collections import defaultdict

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Histogram:
    def __init__(self) -> None:
        self.counts = [0] * len(LATENCY_BUCKETS)
        self.total = 0
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.total += 1
        self.sum += seconds
        for index, bound in enumerate(LATENCY_BUCKETS):
            if seconds <= bound:
                self.counts[index] += 1


class Metrics:
    """Counters and histograms the service updates; ``render`` is what /metrics returns."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.turns: dict[str, int] = defaultdict(int)  # by channel
        self.intents: dict[str, int] = defaultdict(int)
        self.handoffs: dict[str, int] = defaultdict(int)  # by reason
        self.histograms: dict[str, Histogram] = defaultdict(Histogram)

    def turn(self, channel: str, intent: str, seconds: float, handoff_reason: str | None = None) -> None:
        with self._lock:
            self.turns[channel] += 1
            self.intents[intent] += 1
            if handoff_reason:
                self.handoffs[handoff_reason] += 1
            self.histograms["xiaodian_turn_seconds"].observe(seconds)

    def timing(self, name: str, seconds: float) -> None:
        with self._lock:
            self.histograms[name].observe(seconds)

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            for name, help_text, values, label in (
                ("xiaodian_turns_total", "Conversation turns", self.turns, "channel"),
                ("xiaodian_intents_total", "Turns by matched intent", self.intents, "intent"),
                ("xiaodian_handoffs_total", "Handoffs to staff by reason", self.handoffs, "reason"),
            ):
                lines += [f"# HELP {name} {help_text}", f"# TYPE {name} counter"]
                lines += [f'{name}{{{label}="{key}"}} {count}' for key, count in sorted(values.items())]
            for name, histogram in sorted(self.histograms.items()):
                lines += [f"# HELP {name} Duration in seconds", f"# TYPE {name} histogram"]
                for bound, count in zip(LATENCY_BUCKETS, histogram.counts):
                    lines.append(f'{name}_bucket{{le="{bound}"}} {count}')
                lines += [f'{name}_bucket{{le="+Inf"}} {histogram.total}', f"{name}_sum {histogram.sum:.6f}",
                          f"{name}_count {histogram.total}"]
        return "\n".join(lines) + "\n"
