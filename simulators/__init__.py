"""Simulated devices that speak the real protocols from outside the gateway."""

from simulators.demo_site import build_models, publish_site

__all__ = ["build_models", "publish_site"]
