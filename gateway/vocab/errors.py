"""The gateway's own few error types; library errors are translated into these at the boundary."""

from __future__ import annotations


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""


class ConfigError(GatewayError):
    """The site configuration is invalid; carries one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class SourceError(GatewayError):
    """A source lost its device or link; the supervisor restarts it."""

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


class RetryableSinkError(GatewayError):
    """The sink could not write now (link down, server busy); the batch is kept and retried."""

    def __init__(self, sink: str, reason: str) -> None:
        self.sink = sink
        self.reason = reason
        super().__init__(f"{sink}: {reason}")


class SinkRejectedError(GatewayError):
    """The far side refused the batch for good (bad data); it is dropped, counted and logged."""

    def __init__(self, sink: str, reason: str) -> None:
        self.sink = sink
        self.reason = reason
        super().__init__(f"{sink}: {reason}")


class AlarmNotFoundError(GatewayError):
    def __init__(self, alarm_id: str) -> None:
        self.alarm_id = alarm_id
        super().__init__(f"no alarm {alarm_id!r}")


class AlarmConflictError(GatewayError):
    """The action does not fit the alarm's state (closing twice, closing an active alarm...)."""

    def __init__(self, alarm_id: str, reason: str) -> None:
        self.alarm_id = alarm_id
        self.reason = reason
        super().__init__(f"alarm {alarm_id}: {reason}")


class DestinationBusyError(RetryableSinkError):
    """The far side asked us to come back later (HTTP 429/503 with Retry-After)."""

    def __init__(self, sink: str, reason: str, retry_after_s: float | None) -> None:
        super().__init__(sink, reason)
        self.retry_after_s = retry_after_s
