"""The site plan: an image named in the site file, and where each device sits on it.

``site.plan`` is a file (SVG, PNG, JPEG or WebP) beside the site file or below it; a device's
``plan_xy`` is its place on that image as fractions of its width and height from the top left,
so the same numbers fit the plan at any size on any screen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field

from gateway.config.problem import Problem

Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
PlanXY = tuple[Fraction, Fraction]
PLAN_TYPES = {
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
}
MAX_PLAN_BYTES = 5 * 1024 * 1024  # a site drawing; far above a real one, below a mistake


def plan_path(plan: str, base_dir: Path) -> Path:
    return (base_dir / plan).resolve()


def check_plan(plan: str | None, base_dir: Path) -> list[Problem]:
    """A plan that is named must be there, readable, of a known image type and not huge."""
    if plan is None:
        return []
    where = ("site", "plan")
    suffix = Path(plan).suffix.lower()
    if suffix not in PLAN_TYPES:
        return [Problem(where, f"{plan!r} is not an image the dashboard shows ({', '.join(PLAN_TYPES)})")]
    path = plan_path(plan, base_dir)
    if not path.is_file():
        return [Problem(where, f"no such file: {path}")]
    try:
        size = path.stat().st_size
        with path.open("rb"):
            pass
    except OSError as exc:
        return [Problem(where, f"cannot read {path}: {exc.strerror}")]
    if size > MAX_PLAN_BYTES:
        return [Problem(where, f"{path} is larger than a plan may be ({MAX_PLAN_BYTES} bytes)")]
    return []
