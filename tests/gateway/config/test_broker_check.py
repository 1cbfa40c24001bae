"""check-config warns when the site broker's own mosquitto.conf would drop or throttle sensor data."""

from __future__ import annotations

from pathlib import Path

from gateway.config import parse_config
from gateway.config.broker_check import check_broker_config, read_mosquitto_settings
from gateway.config.loader import config_warnings

SITE = """
site: {{id: b1}}
mqtt: {{url: "mqtt://127.0.0.1:1883", broker_config: {conf}{window}}}
devices:
  - {{id: p1, type: mqtt, channels: {{disp: {{unit: mm}}}}}}
"""


def _site(tmp_path: Path, conf_text: str | None, window: int | None = None) -> Path:
    conf = tmp_path / "mosquitto.conf"
    if conf_text is not None:
        conf.write_text(conf_text)
    site = tmp_path / "site.yaml"
    site.write_text(SITE.format(conf=conf, window="" if window is None else f", inflight_window: {window}"))
    return site


def test_an_untuned_broker_gets_both_warnings(tmp_path: Path) -> None:
    site = _site(tmp_path, "listener 1883\nallow_anonymous true\n")
    queue, window = config_warnings(site, parse_config(site.read_text()))  # mosquitto's defaults
    assert "max_queued_messages 1000" in queue and "site.yaml:3:" in queue
    assert "max_inflight_messages 20" in window and "caps the intake" in window


def test_a_window_that_differs_from_the_gateways_is_named(tmp_path: Path) -> None:
    site = _site(tmp_path, "max_queued_messages 200000\nmax_inflight_messages 1000  # tuned\n")
    (warning,) = config_warnings(site, parse_config(site.read_text()))
    assert "max_inflight_messages 1000" in warning and "mqtt.inflight_window is 20" in warning


def test_a_tuned_broker_and_gateway_pass(tmp_path: Path) -> None:
    site = _site(tmp_path, "max_queued_messages 200000\nmax_inflight_messages 1000\n", window=1000)
    assert config_warnings(site, parse_config(site.read_text())) == []


def test_zero_means_unlimited_and_the_last_setting_wins() -> None:
    assert read_mosquitto_settings(
        "max_queued_messages 5\nmax_queued_messages 0\n# max_inflight_messages 1\n"
    ) == {"max_queued_messages": 0}


def test_a_missing_broker_file_is_a_warning_not_a_crash(tmp_path: Path) -> None:
    site = _site(tmp_path, None)
    (warning,) = check_broker_config(parse_config(site.read_text()))
    assert "cannot read the broker's config" in warning.message
