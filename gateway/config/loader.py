"""Load a site file: YAML with line numbers, pydantic for types, then the checks for meaning.

Every problem becomes one line ``FILE:LINE: key.path: message`` so an operator can go straight to it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from gateway.config.broker_check import check_broker_config
from gateway.config.meaning import check_meaning
from gateway.config.meaning_periods import check_periods
from gateway.config.meaning_quality import check_spike_floors
from gateway.config.models import SiteConfig
from gateway.config.presets import apply_presets
from gateway.config.salvage import meaning_despite
from gateway.config.site_plan import check_plan
from gateway.config.suggest import allowed_keys, did_you_mean
from gateway.vocab import ConfigError

# A 2,000-channel site file is about 300 KB. The bounds keep a pathological file (tens of thousands
# of tiny lists) from costing minutes and gigabytes before it is refused.
MAX_CONFIG_BYTES = 1024 * 1024
MAX_CONFIG_NODES = 150_000
# Problems listed in full; past that a file is wrong in one repeated way and the rest are counted.
MAX_PROBLEMS_LISTED = 100

KeyPath = tuple[str | int, ...]


def format_path(path: KeyPath) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


class LineIndex:
    """Line of every key and list item in a YAML document, and any duplicate keys."""

    def __init__(self, root: yaml.Node | None, max_nodes: int = MAX_CONFIG_NODES) -> None:
        self.lines: dict[KeyPath, int] = {}
        self.duplicates: list[tuple[KeyPath, int]] = []
        self.max_nodes = max_nodes
        # Aliases share nodes: walk each once, or a recursive alias or an alias bomb never ends.
        self._walked: set[int] = set()
        if root is not None:
            self._walk(root, ())

    def _walk(self, node: yaml.Node, path: KeyPath) -> None:
        if id(node) in self._walked:
            return
        self._walked.add(id(node))
        if len(self._walked) > self.max_nodes:
            raise TooManyNodesError(self.max_nodes)
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                key = str(key_node.value)
                child = (*path, key)
                line = key_node.start_mark.line + 1
                if key in seen:
                    self.duplicates.append((child, line))
                    continue
                seen.add(key)
                self.lines[child] = line
                self._walk(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self.lines[(*path, i)] = item.start_mark.line + 1
                self._walk(item, (*path, i))

    def locate(self, source: str) -> Callable[[KeyPath, str], str]:
        """A formatter of ``FILE:LINE: key.path: message`` lines for this document."""

        def at(path: KeyPath, message: str) -> str:
            line = self.line_of(path)
            where = f"{source}:{line}" if line is not None else source
            return f"{where}: {format_path(path)}: {message}"

        return at

    def line_of(self, path: KeyPath) -> int | None:
        """Line of the path, or of its nearest ancestor that is in the file."""
        for end in range(len(path), 0, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None


class TooManyNodesError(Exception):
    def __init__(self, limit: int) -> None:
        self.limit = limit


def _count_nodes(loader_class: Any, text: str, limit: int) -> None:
    """Refuse a document of more than ``limit`` nodes before building any of them."""
    loader = loader_class(text)
    try:
        nodes = 0
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, (yaml.ScalarEvent, yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                nodes += 1
                if nodes > limit:
                    raise TooManyNodesError(limit)
    finally:
        loader.dispose()


def _parse(text: str, max_nodes: int = MAX_CONFIG_NODES) -> tuple[Any, LineIndex]:
    """The data and the line index from one parse, by libyaml when it is there."""
    loader_class = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    _count_nodes(loader_class, text, max_nodes)
    loader = loader_class(text)
    try:
        root = loader.get_single_node()
        # Index the lines first: building the data flattens merge keys (<<) in the node tree.
        lines = LineIndex(root, max_nodes)
        data = loader.construct_document(root) if root is not None else None
    finally:
        loader.dispose()
    return data, lines


def data_path(data: Any, loc: tuple[str | int, ...], tags: tuple[str, ...] = ("type",)) -> KeyPath:
    """Turn a pydantic error location into a path through the data.

    pydantic puts the tag of a discriminated union (e.g. ``mqtt``, the value of one of the ``tags``
    keys) and validator names into the location; those are not keys of the file and are skipped.
    """
    path: list[str | int] = []
    node: Any = data
    for part in loc:
        if isinstance(node, Mapping) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path.append(part)
            node = node[part]
        elif isinstance(node, Mapping) and part in [node.get(tag) for tag in tags]:
            continue
        elif isinstance(node, (Mapping, list)) and isinstance(part, str) and "[" not in part:
            # A missing key: name it, though it is not in the file.
            path.append(part)
            node = None
        else:
            continue
    return tuple(path)


def parse_yaml(text: str, source: str) -> tuple[Any, LineIndex]:
    """The document and the line of every key; ConfigError for bad syntax or a duplicate key."""
    try:
        data, lines = _parse(text)
    except TooManyNodesError as exc:
        raise ConfigError(
            [f"{source}: (file): more than {exc.limit} keys and items; no site file needs that many"]
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        # One line per problem: libyaml's words may run over several (found by fuzzing).
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        if "nesting depth" in problem:  # libyaml's words for what the pure-Python parser hits later
            where, problem = source, "nested too deeply"
        raise ConfigError([f"{where}: (YAML syntax): {problem}"]) from exc
    except RecursionError:
        raise ConfigError([f"{source}: (YAML syntax): nested too deeply"]) from None
    if lines.duplicates:
        raise ConfigError(
            [
                f"{source}:{line}: {format_path(path)}: duplicate key (first on line "
                f"{lines.lines[path]}; the later one would silently replace it)"
                for path, line in lines.duplicates
            ]
        )
    return data, lines


def parse_config(text: str, source: str = "<config>") -> SiteConfig:
    """Validate a site file's text; raises ConfigError with one line per problem."""
    data, lines = parse_yaml(text, source)
    at = lines.locate(source)
    if data is None:
        raise ConfigError([f"{source}: (top level): the file is empty"])
    if not isinstance(data, dict):
        raise ConfigError([at((), "expected a mapping of sections (site, devices, rules, ...)")])

    at = _naming_rules(at, data)
    problems: list[tuple[KeyPath, str]] = []
    preset_bad: list[KeyPath] = []
    if isinstance(data.get("rules"), list):
        data["rules"], preset_problems = apply_presets(data["rules"])
        for i, message in preset_problems:
            problems.append((("rules", i, "preset"), message))
            preset_bad.append(("rules", i))

    # Every problem at once: type problems, then the meaning checks on what is valid.
    bad_locs: list[tuple[str | int, ...]] = list(preset_bad)
    unnamed = 0  # type problems past the listed ones: counted, not each located
    try:
        config = SiteConfig.model_validate(data)
    except ValidationError as exc:
        config = None
        errors = exc.errors(include_url=False)
        unnamed = max(0, len(errors) - MAX_PROBLEMS_LISTED)
        for number, error in enumerate(errors):
            loc = tuple(error["loc"])
            bad_locs.append(loc)
            if number >= MAX_PROBLEMS_LISTED:
                continue  # counted below; naming each of 100,000 would cost more than it tells
            if any(loc[: len(b)] == b for b in preset_bad):
                continue  # its preset is the problem; the fields it would fill are not
            path = data_path(data, loc)
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "union_tag_invalid":
                path = (*path, "type")
            if error["type"] == "extra_forbidden" and loc and isinstance(loc[-1], str):
                allowed = allowed_keys(SiteConfig, loc[:-1])
                if allowed is not None:
                    message += did_you_mean(loc[-1], allowed)
            problems.append((path, message))
    if config is not None and not problems:
        meaning = check_meaning(config)
    else:
        meaning = meaning_despite(data, bad_locs)
    problems += [(p.path, p.message) for p in meaning]
    if problems:
        named = [at(path, message) for path, message in _by_line(problems, lines)]
        more = max(0, len(named) - MAX_PROBLEMS_LISTED) + unnamed
        tail = [f"... and {more} more problems like these"] if more else []
        raise ConfigError(named[:MAX_PROBLEMS_LISTED] + tail)
    assert config is not None
    return config


def _by_line(problems: list[tuple[KeyPath, str]], lines: LineIndex) -> list[tuple[KeyPath, str]]:
    """Problems in the order of the file (those without a line last), so one can work down it."""
    return sorted(problems, key=lambda p: lines.line_of(p[0]) or 10**9)


def _naming_rules(at: Callable[[KeyPath, str], str], data: dict[str, Any]) -> Callable[[KeyPath, str], str]:
    """Problems inside a rule name the rule by its id, as people call it (``rule 'pit_wall':``)."""
    rules = data.get("rules")

    def named(path: KeyPath, message: str) -> str:
        if len(path) > 1 and path[0] == "rules" and isinstance(path[1], int) and isinstance(rules, list):
            rule = rules[path[1]] if 0 <= path[1] < len(rules) else None
            rule_id = rule.get("id") if isinstance(rule, dict) else None
            if isinstance(rule_id, str) and rule_id:
                message = f"rule {rule_id!r}: {message}"
        return at(path, message)

    return named


def read_text(path: str | Path, what: str, max_bytes: int) -> str:
    """A small UTF-8 file's text; ConfigError with a ``FILE: (file): ...`` line when it cannot be had."""
    file = Path(path)
    try:
        # Read at most one byte past the limit: the size of /dev/zero or a pipe is no guide.
        with file.open("rb") as stream:
            raw = stream.read(max_bytes + 1)
        if len(raw) > max_bytes:
            raise ConfigError([f"{file}: (file): larger than a {what} may be ({max_bytes} bytes)"])
        return raw.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{file}: (file): no such file"]) from None
    except IsADirectoryError:
        raise ConfigError([f"{file}: (file): is a directory, not a {what}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{file}: (file): not UTF-8 text ({exc.reason})"]) from None
    except OSError as exc:
        raise ConfigError([f"{file}: (file): cannot read: {exc.strerror}"]) from None


def load_config(path: str | Path) -> SiteConfig:
    """Read and validate a site file; raises ConfigError for a missing, unreadable or bad file."""
    text = read_text(path, "site file", MAX_CONFIG_BYTES)
    config = parse_config(text, source=str(path))
    # Files the site file names are found beside it: only here is that place known.
    problems = check_plan(config.site.plan, Path(path).resolve().parent)
    if problems:
        _, lines = parse_yaml(text, str(path))
        at = lines.locate(str(path))
        raise ConfigError([at(p.path, p.message) for p in problems])
    return config


def config_warnings(path: str | Path, config: SiteConfig) -> list[str]:
    """``FILE:LINE: key.path: warning: ...`` lines for a valid site file: rules that do not fit how
    often their devices report, spike checks without a floor. Warnings do not stop the gateway."""
    source = str(path)
    _, lines = parse_yaml(read_text(path, "site file", MAX_CONFIG_BYTES), source)
    at = lines.locate(source)
    checks = check_periods(config) + check_spike_floors(config) + check_broker_config(config)
    return [at(p.path, p.message) for p in checks]
