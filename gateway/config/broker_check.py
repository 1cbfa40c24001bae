"""check-config's look at the site broker's own mosquitto.conf (``mqtt.broker_config``), when the
broker runs on the gateway's PC: settings that would make the broker drop or throttle sensor data.

mosquitto drops QoS 1 messages for a client beyond ``max_queued_messages`` (1000 by default)
while the client is slow or away, and sends no more than ``max_inflight_messages`` (20) before it
waits for acknowledgements, which the gateway sends only once the readings are stored. Warnings,
not errors: the broker may be tuned elsewhere (an ``include_dir`` the check does not follow).
"""

from __future__ import annotations

from pathlib import Path

from gateway.config.models import SiteConfig
from gateway.config.problem import Problem

MOSQUITTO_DEFAULTS = {"max_queued_messages": 1000, "max_inflight_messages": 20}
# A 4G outage of an hour at a few hundred messages a second should not overflow the queue.
MIN_QUEUED = 100_000
WHERE = ("mqtt", "broker_config")


def read_mosquitto_settings(text: str) -> dict[str, int]:
    """The integer settings of a mosquitto.conf (the last one wins, as in mosquitto)."""
    found: dict[str, int] = {}
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) == 2 and words[0] in MOSQUITTO_DEFAULTS and words[1].lstrip("-").isdigit():
            found[words[0]] = int(words[1])
    return found


def check_broker_config(config: SiteConfig) -> list[Problem]:
    path = config.mqtt.broker_config
    if path is None:
        return []
    try:
        text = Path(path).read_text(errors="replace")
    except OSError as exc:
        return [Problem(WHERE, f"warning: cannot read the broker's config {path}: {exc.strerror or exc}")]
    settings = {**MOSQUITTO_DEFAULTS, **read_mosquitto_settings(text)}
    warnings = []
    queued = settings["max_queued_messages"]
    if 0 < queued < MIN_QUEUED:
        warnings.append(
            Problem(
                WHERE,
                f"warning: {path} has max_queued_messages {queued}: the broker drops sensor messages "
                f"past that many while the gateway restarts or falls behind; set it to {MIN_QUEUED} "
                "or more (docs/forwarding.md)",
            )
        )
    inflight = settings["max_inflight_messages"]
    window = config.mqtt.inflight_window
    if inflight != 0 and inflight != window:
        warnings.append(
            Problem(
                WHERE,
                f"warning: {path} has max_inflight_messages {inflight} but mqtt.inflight_window is "
                f"{window}: set both to the same value (1000 for a busy site, docs/forwarding.md), or "
                "the gateway waits for messages the broker does not send",
            )
        )
    elif inflight != 0 and inflight < 100:
        warnings.append(
            Problem(
                WHERE,
                f"warning: max_inflight_messages {inflight} in {path} caps the intake (each message "
                "holds its place in the window until stored); 1000 suits a busy site",
            )
        )
    return warnings
