"""Scenario files: a seed, a run length, the site's devices' models, events, and the ground truth.

A scenario names the site file it runs against (default ``examples/site.yaml``; relative paths are
taken from the repository root) and uses its rules as they are. The ground truth lists each alarm
that must fire, as (channel, rule, grade, window): a ``raised`` event of that channel and rule must
come inside the window and reach the grade there. ``allow`` lists (channel, rule) pairs that may
fire without being scored, each with its reason; any other raised alarm is a false alarm.

Problems are reported like the site loader's, one line each: ``FILE:LINE: key.path: message``.
"""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.config import (
    ConfigError,
    QualityRuleConfig,
    SiteConfig,
    load_config,
    match_channels,
    site_channels,
)
from gateway.config.derived import derived_channels
from gateway.config.loader import KeyPath, data_path, parse_yaml, read_text
from simulators.models import (
    DEFAULT_BY_QUANTITY,
    LINE_FAULTS,
    MODELS,
    AnemometerParams,
    CraneParams,
    CrcParams,
    DriftParams,
    DropoutParams,
    ExcavationParams,
    FormworkParams,
    GustFrontParams,
    IdleParams,
    LineParams,
    OverloadParams,
    PitParams,
    PourParams,
    PrecursorParams,
    RainParams,
    SpikeParams,
    StuckParams,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
SCENARIOS_DIR = REPO_ROOT / "scenarios"
DEFAULT_SITE = "examples/site.yaml"
MAX_SCENARIO_BYTES = 1024 * 1024
QUALITY_CHECKS = ("silent", "stuck", "out_of_range", "spike")

Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class ScenarioError(ValueError):
    """A scenario that cannot be run; ``problems`` holds one ``FILE:LINE: key: message`` line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- devices ---------------------------------------------------------------------------------------


class CraneDevice(Strict):
    model: Literal["crane"]
    params: CraneParams = CraneParams()


class AnemometerDevice(Strict):
    model: Literal["anemometer"]
    params: AnemometerParams = AnemometerParams()


class FormworkDevice(Strict):
    model: Literal["formwork"]
    params: FormworkParams = FormworkParams()


class PitDevice(Strict):
    model: Literal["pit"]
    params: PitParams = PitParams()


DeviceSpec = Annotated[
    CraneDevice | AnemometerDevice | FormworkDevice | PitDevice, Field(discriminator="model")
]

# --- events ----------------------------------------------------------------------------------------


class EventBase(Strict):
    at_s: Seconds
    until_s: Seconds | None = None
    device: str = Field(description="a device id of the site, or a shell pattern such as fw1.*")


class OverloadEvent(EventBase):
    kind: Literal["overload"]
    params: OverloadParams = OverloadParams()


class IdleEvent(EventBase):
    kind: Literal["idle"]
    params: IdleParams = IdleParams()


class GustFrontEvent(EventBase):
    kind: Literal["gust_front"]
    params: GustFrontParams = GustFrontParams()


class PourEvent(EventBase):
    kind: Literal["pour"]
    params: PourParams = PourParams()


class PrecursorEvent(EventBase):
    kind: Literal["collapse_precursor"]
    params: PrecursorParams = PrecursorParams()


class ExcavationEvent(EventBase):
    kind: Literal["excavation"]
    params: ExcavationParams = ExcavationParams()


class RainEvent(EventBase):
    kind: Literal["rain"]
    params: RainParams = RainParams()


class SpikeEvent(EventBase):
    kind: Literal["spike"]
    params: SpikeParams = SpikeParams()


class StuckEvent(EventBase):
    kind: Literal["stuck"]
    params: StuckParams = StuckParams()


class DriftEvent(EventBase):
    kind: Literal["drift"]
    params: DriftParams = DriftParams()


class DropoutEvent(EventBase):
    kind: Literal["dropout"]
    params: DropoutParams = DropoutParams()


class CrcEvent(EventBase):
    kind: Literal["crc"]
    params: CrcParams = CrcParams()


class LineEvent(EventBase):
    kind: Literal["silent", "cable_cut", "offline"]
    params: LineParams = LineParams()


Event = Annotated[
    OverloadEvent
    | IdleEvent
    | GustFrontEvent
    | PourEvent
    | PrecursorEvent
    | ExcavationEvent
    | RainEvent
    | SpikeEvent
    | StuckEvent
    | DriftEvent
    | DropoutEvent
    | CrcEvent
    | LineEvent,
    Field(discriminator="kind"),
]

# Kinds that last from at_s to until_s (which is then required), and kinds that happen at at_s.
INTERVAL_KINDS = {"idle", "pour", "stuck", "drift", "dropout", *LINE_FAULTS}
INSTANT_KINDS = {"overload", "gust_front", "collapse_precursor", "excavation", "rain"}
PHYSICAL_KINDS = {kind: model for model, info in MODELS.items() for kind in info.events}

# --- official weather warnings ---------------------------------------------------------------------


class WarningSpec(Strict):
    """An official weather warning the platform sends at ``at_s`` (a CAP 1.2 Alert, see
    :mod:`simulators.cap_documents`); ``cancel_at_s``: when a Cancel follows."""

    at_s: Seconds
    event: Literal["gale", "rainstorm", "typhoon", "thunder", "snow", "heat", "thunderstorm_gale"]
    colour: Literal["blue", "yellow", "orange", "red"]
    expires_after_s: Annotated[float, Field(gt=0, le=7 * 86400)] = 6 * 3600.0
    cancel_at_s: Seconds | None = None


# Channels and rules the gateway's weather warnings raise alarms on (docs/weather.md).
WEATHER_CHANNELS = {f"weather.{e}" for e in ("gale", "rainstorm", "typhoon", "thunder", "snow", "heat",
                                              "thunderstorm_gale")}  # fmt: skip
WEATHER_RULES = {"weather_warning", "weather_local"}

# --- truth -----------------------------------------------------------------------------------------


class AlarmKey(Strict):
    channel: str
    rule: str = Field(description="a rule id; quality rules as <id>.<check>, e.g. sensors_alive.silent")


class TruthEntry(AlarmKey):
    grade: Literal[1, 2, 3] = Field(description="the highest grade the alarm reaches inside the window")
    window_s: tuple[Seconds, Seconds]


class AllowEntry(AlarmKey):
    reason: str = Field(min_length=1, description="why this alarm may fire without being scored")


class Scenario(Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    description: str = ""
    seed: int
    duration_s: Annotated[float, Field(gt=0, le=90 * 86400, allow_inf_nan=False)]
    time_scale: Annotated[float, Field(gt=0, le=1e6)] = Field(
        default=1.0, description="scenario seconds per wall second in real-time runs (demo, simulate)"
    )
    site: str = DEFAULT_SITE
    periods: dict[
        Literal["crane", "anemometer", "formwork", "pit"], Annotated[float, Field(gt=0, le=3600)]
    ] = Field(default_factory=dict, description="sample period (s) per model, over the model's default")
    devices: dict[str, DeviceSpec] = Field(
        default_factory=dict, description="model per device id; others get the default for their quantity"
    )
    events: list[Event] = Field(default_factory=list)
    warnings: list[WarningSpec] = Field(
        default_factory=list, description="official weather warnings sent to the gateway (evaluate)"
    )
    truth: list[TruthEntry] = Field(default_factory=list)
    allow: list[AllowEntry] = Field(default_factory=list)

    def site_path(self) -> Path:
        path = Path(self.site)
        return path if path.is_absolute() else REPO_ROOT / path


# --- loading ---------------------------------------------------------------------------------------


def find_scenario(name: str) -> Path:
    """The file of a shipped scenario (``scenarios/NAME.yaml``), or ``name`` itself if it is a file."""
    path = Path(name)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return path
    candidate = SCENARIOS_DIR / f"{name}.yaml"
    if candidate.is_file():
        return candidate
    known = ", ".join(list_scenarios()) or "none"
    raise ScenarioError([f"{name}: (file): no such scenario (shipped: {known})"])


def list_scenarios() -> list[str]:
    """Names of the shipped scenarios, sorted."""
    if not SCENARIOS_DIR.is_dir():
        return []
    return sorted(p.stem for p in SCENARIOS_DIR.glob("*.yaml"))


def load_scenario(path: str | Path, site_config: SiteConfig | None = None) -> Scenario:
    """Read and check a scenario file, against ``site_config`` or the site file it names."""
    file = Path(path)
    try:
        text = read_text(file, "scenario file", MAX_SCENARIO_BYTES)
    except ConfigError as exc:
        raise ScenarioError(exc.problems) from None
    return parse_scenario(text, str(file), site_config)


def load_site(scenario: Scenario) -> SiteConfig:
    """The site configuration a scenario runs against (raises gateway ConfigError if it is bad)."""
    return load_config(scenario.site_path())


def parse_scenario(text: str, source: str = "<scenario>", site_config: SiteConfig | None = None) -> Scenario:
    try:
        data, lines = parse_yaml(text, source)
    except ConfigError as exc:
        raise ScenarioError(exc.problems) from None
    at = lines.locate(source)
    if not isinstance(data, dict):
        raise ScenarioError([at((), "expected a mapping (name, seed, duration_s, devices, events, truth)")])
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            path = data_path(data, tuple(error["loc"]), tags=("kind", "model"))
            if error["type"] == "union_tag_invalid":
                path = (*path, "kind" if "events" in path else "model")
            problems.append(at(path, error["msg"].removeprefix("Value error, ")))
        raise ScenarioError(problems) from None

    if site_config is None:
        try:
            site_config = load_site(scenario)
        except Exception as exc:  # the site's own loader says what is wrong with it
            raise ScenarioError([at(("site",), f"cannot load the site file: {exc}")]) from None
    problems = [at(p, m) for p, m in check_scenario(scenario, site_config)]
    stem = Path(source).stem
    if source != "<scenario>" and stem != scenario.name:
        problems.append(at(("name",), f"{scenario.name!r} differs from the file name {stem!r}"))
    if problems:
        raise ScenarioError(problems)
    return scenario


# --- meaning ---------------------------------------------------------------------------------------


def device_models(scenario: Scenario, site: SiteConfig) -> dict[str, str | None]:
    """Model of every site device: named in the scenario, else the default for its quantity."""
    out: dict[str, str | None] = {}
    for device in site.devices:
        spec = scenario.devices.get(device.id)
        if spec is not None:
            out[device.id] = spec.model
        else:
            out[device.id] = next(
                (DEFAULT_BY_QUANTITY[q] for q in device.channels if q in DEFAULT_BY_QUANTITY), None
            )
    return out


def event_devices(pattern: str, device_ids: list[str]) -> list[str]:
    if pattern in device_ids:
        return [pattern]
    return [d for d in device_ids if fnmatchcase(d, pattern)]


def known_channels(site: SiteConfig) -> set[str]:
    """Sensor channels and the channels rules derive from them (wind means, crane ratios)."""
    sensors = list(site_channels(site))
    ids = [e.id for e in sensors]
    matched = {
        i: [c for pattern in rule.channels for c in match_channels(pattern, ids)]
        for i, rule in enumerate(site.rules)
    }
    return set(ids) | {e.id for e in derived_channels(site, sensors, matched)}


def known_rules(site: SiteConfig) -> set[str]:
    """Rule ids as alarm events carry them; a quality rule's alarms are ``<id>.<check>``."""
    out: set[str] = set()
    for rule in site.rules:
        if isinstance(rule, QualityRuleConfig):
            out |= {f"{rule.id}.{check}" for check in QUALITY_CHECKS}
        else:
            out.add(rule.id)
    return out


def check_scenario(scenario: Scenario, site: SiteConfig) -> list[tuple[KeyPath, str]]:
    problems: list[tuple[KeyPath, str]] = []
    site_devices = {d.id: d for d in site.devices}
    ids = list(site_devices)
    models = device_models(scenario, site)
    end = scenario.duration_s

    for device_id, spec in scenario.devices.items():
        device = site_devices.get(device_id)
        if device is None:
            problems.append(
                (("devices", device_id), f"unknown device {device_id!r}: the site has {', '.join(ids)}")
            )
            continue
        missing = [q for q in device.channels if q not in MODELS[spec.model].quantities]
        if missing:
            problems.append(
                (
                    ("devices", device_id, "model"),
                    f"model {spec.model!r} does not produce {', '.join(missing)}",
                )
            )
    for device_id, model in models.items():
        if model is None and device_id not in scenario.devices:
            problems.append(
                (("devices",), f"device {device_id!r} has no default model: name one under devices")
            )

    for i, event in enumerate(scenario.events):
        base: KeyPath = ("events", i)
        targets = event_devices(event.device, ids)
        if not targets:
            problems.append(
                ((*base, "device"), f"unknown device {event.device!r}: the site has {', '.join(ids)}")
            )
        wanted = PHYSICAL_KINDS.get(event.kind)
        for target in targets:
            if wanted is not None and models.get(target) != wanted:
                problems.append(
                    (
                        (*base, "kind"),
                        f"{event.kind!r} needs a {wanted} device; {target!r} is {models.get(target)}",
                    )
                )
                break
        if event.at_s > end:
            problems.append(((*base, "at_s"), f"{event.at_s:g} s is after the end of the run ({end:g} s)"))
        if event.kind in INTERVAL_KINDS and event.until_s is None:
            problems.append(((*base, "until_s"), f"a {event.kind!r} event needs until_s (when it ends)"))
        if event.kind in INSTANT_KINDS and event.until_s is not None:
            problems.append(
                ((*base, "until_s"), f"a {event.kind!r} event happens at at_s: until_s means nothing")
            )
        if event.until_s is not None:
            if event.until_s <= event.at_s:
                problems.append(
                    ((*base, "until_s"), f"until_s ({event.until_s:g}) must be after at_s ({event.at_s:g})")
                )
            elif event.until_s > end:
                problems.append(
                    ((*base, "until_s"), f"{event.until_s:g} s is after the end of the run ({end:g} s)")
                )
        quantity = getattr(event.params, "quantity", None)
        if quantity is not None:
            for target in targets:
                if quantity not in site_devices[target].channels:
                    problems.append(
                        ((*base, "params", "quantity"), f"device {target!r} has no quantity {quantity!r}")
                    )
                    break
        if event.kind == "spike" and event.params.every_s is not None and event.until_s is None:
            problems.append(((*base, "params", "every_s"), "repeated spikes need until_s (when they stop)"))

    for i, warning in enumerate(scenario.warnings):
        for key in ("at_s", "cancel_at_s"):
            value = getattr(warning, key)
            if value is not None and value > end:
                problems.append(
                    (("warnings", i, key), f"{value:g} s is after the end of the run ({end:g} s)")
                )
        if warning.cancel_at_s is not None and warning.cancel_at_s <= warning.at_s:
            problems.append((("warnings", i, "cancel_at_s"), "must be after at_s"))

    channels = known_channels(site)
    rules = known_rules(site)
    if scenario.warnings or site.weather.local.gale is not None or site.weather.local.rain is not None:
        channels |= WEATHER_CHANNELS
        rules |= WEATHER_RULES
    sections: list[tuple[str, Sequence[AlarmKey]]] = [
        ("truth", scenario.truth),
        ("allow", scenario.allow),
    ]
    for section, entries in sections:
        for i, entry in enumerate(entries):
            base = (section, i)
            if entry.channel not in channels:
                problems.append(((*base, "channel"), f"unknown channel {entry.channel!r}"))
            if entry.rule not in rules:
                problems.append(
                    ((*base, "rule"), f"unknown rule {entry.rule!r}: the site has {', '.join(sorted(rules))}")
                )
            if isinstance(entry, TruthEntry):
                start, stop = entry.window_s
                if not start < stop:
                    problems.append(((*base, "window_s"), f"the window [{start:g}, {stop:g}] is empty"))
                elif stop > end:
                    problems.append(
                        (
                            (*base, "window_s"),
                            f"the window [{start:g}, {stop:g}] s ends after the run ({end:g} s)",
                        )
                    )
    return problems
