"""Weather early warning: official CAP warnings and the site's own signals, as records with a
lifecycle, mapped to site actions, raised as site alarms and published on ``…/warnings``."""

from drivers.cap.warning import Change, WarningRecord, WarningState
from gateway.weather.assembly import Weather
from gateway.weather.warning_desk import WarningDesk, WarningNotFoundError

__all__ = ["Change", "WarningDesk", "WarningNotFoundError", "WarningRecord", "WarningState", "Weather"]
