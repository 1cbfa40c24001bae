"""The default site action table under weather warnings: a data file beside this module
(``weather_actions.yaml``), each row citing its source, read as the site file's own rows are."""

from __future__ import annotations

from functools import cache
from importlib import resources

import yaml

from gateway.config.weather import ActionRow


@cache
def default_actions() -> tuple[ActionRow, ...]:
    text = resources.files("gateway.config").joinpath("weather_actions.yaml").read_text(encoding="utf-8")
    return tuple(ActionRow.model_validate(row) for row in yaml.safe_load(text))
