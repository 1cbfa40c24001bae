"""The site configuration: models, loading with line numbers, checks for meaning."""

from gateway.config.channels import ChannelEntry, match_channels, site_channels
from gateway.config.loader import load_config, parse_config
from gateway.config.models import (
    ApiConfig,
    ChannelConfig,
    DeviceConfig,
    GradedLimits,
    MqttBrokerConfig,
    MqttDeviceConfig,
    MqttSinkConfig,
    RuleConfig,
    SinkConfig,
    SiteConfig,
    SiteInfo,
    SqliteSinkConfig,
    ThresholdRuleConfig,
    TokenConfig,
)

__all__ = [
    "ApiConfig",
    "ChannelConfig",
    "ChannelEntry",
    "DeviceConfig",
    "GradedLimits",
    "MqttBrokerConfig",
    "MqttDeviceConfig",
    "MqttSinkConfig",
    "RuleConfig",
    "SinkConfig",
    "SiteConfig",
    "SiteInfo",
    "SqliteSinkConfig",
    "ThresholdRuleConfig",
    "TokenConfig",
    "load_config",
    "match_channels",
    "parse_config",
    "site_channels",
]
