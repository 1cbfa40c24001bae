"""REST API, live views and dashboard over a running gateway."""

from api.app import API_PREFIX, create_app
from api.server import ApiServer, bind_socket

__all__ = ["API_PREFIX", "ApiServer", "bind_socket", "create_app"]
