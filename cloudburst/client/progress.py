"""The lines ``watch``, ``status`` and ``jobs`` print, as pure functions of a :class:`JobView`.

The outcome line is the one a script greps: ``24/24 scenes · 3 tasks · 41 s · $0.0049``. Every
line shows the scenes with :func:`scenes_text` of the counts the pipeline published (one
count, ``model.scene_counts``), so no two lines can disagree.
"""

from __future__ import annotations

from datetime import datetime

from chalicelib import model
from chalicelib.model import SceneCounts
from cloudburst.client.status import JobView


def scenes_text(counts: SceneCounts, *, noun: bool = True) -> str:
    """``22/24 scenes (1 failed)``: succeeded of all, and how many failed."""
    text = f"{counts.succeeded}/{counts.total}{' scenes' if noun else ''}"
    return f"{text} ({counts.failed} failed)" if counts.failed else text


def eta_seconds(status: JobView, now: datetime | None = None) -> float | None:
    """Seconds left if scenes keep finishing at the rate seen so far; None before the first."""
    if status.is_final:
        return 0.0
    return model.eta_seconds(status.counts, status.elapsed_seconds(now))


def progress_line(status: JobView, now: datetime | None = None) -> str:
    """``RUNNING · 7/24 scenes · tasks 3 running, 1 batch waiting · 12 s · $0.0012 · ETA 29 s``."""
    parts = [status.status, scenes_text(status.counts)]
    waiting = status.batches_waiting
    tasks = f"tasks {status.tasks_running} running"
    if waiting:
        tasks += f", {waiting} batch{'es' if waiting != 1 else ''} waiting"
    parts.append(tasks)
    if status.document.get("phase") == "assembling":  # the scenes are done; the episode is next
        parts.insert(1, "assembling the episode")
    parts.append(duration_text(status.elapsed_seconds(now)))
    parts.append(cost_text(status.cost_usd))
    eta = eta_seconds(status, now)
    if not status.is_final:
        parts.append(f"ETA {duration_text(eta)}" if eta is not None else "ETA …")
    if status.cancel_requested and not status.is_final:
        parts.append("cancel requested")
    return " · ".join(parts)


def outcome_line(status: JobView) -> str:
    """``24/24 scenes · 3 tasks · 41 s · $0.0049``."""
    tasks = f"{status.tasks_used} task{'s' if status.tasks_used != 1 else ''}"
    return (
        f"{scenes_text(status.counts)} · {tasks} · "
        f"{duration_text(status.elapsed_seconds())} · {cost_text(status.cost_usd)}"
    )


def error_lines(status: JobView) -> list[str]:
    """The first reasons the status document carries, and how many more ``job.json`` has."""
    lines = [f"error: {error}" for error in status.errors]
    if status.errors_total > len(status.errors):
        lines.append(f"… {status.errors_total - len(status.errors)} more errors in job.json")
    return lines


def duration_text(seconds: float | None) -> str:
    """``41 s``, ``3 min 05 s``, ``2 h 01 min``."""
    if seconds is None:
        return "…"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def cost_text(usd: float) -> str:
    return f"${usd:.4f}"
