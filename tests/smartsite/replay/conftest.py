from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import SiteConfig

SITE = {
    "site": {"id": "t"},
    "devices": [
        {"id": "pit.P1", "type": "mqtt", "channels": {"disp_h": {"unit": "mm", "range": [-100, 200]}}},
        {"id": "anemo1", "type": "mqtt", "channels": {"wind_speed": {"unit": "m/s", "range": [0, 60]}}},
    ],
    "rules": [
        {
            "id": "pit_disp",
            "type": "threshold",
            "channels": ["pit.*.disp_h"],
            "upper": {"yellow": 21.0, "orange": 25.5, "red": 30.0},
            "hysteresis": 0.5,
        },
        {
            "id": "wind",
            "type": "threshold",
            "channels": ["anemo1.wind_speed"],
            "upper": {"yellow": 10.8, "orange": 12.0},
            "hysteresis": 0.5,
        },
    ],
}


@pytest.fixture
def config() -> SiteConfig:
    return SiteConfig.model_validate(SITE)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path
