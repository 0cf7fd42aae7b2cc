"""The site's faces over HTTP (aiohttp): the display for drivers (``display``), the REST API
and Prometheus metrics. Reads state through ``ports.SiteSource``; commands go through the one
command port."""

from edge_controller.web.display import DisplayHub
from edge_controller.web.display_model import DisplaySetup, StartWay
from edge_controller.web.server import Sources, WebServer, build_app, urls

__all__ = ["DisplayHub", "DisplaySetup", "Sources", "StartWay", "WebServer", "build_app", "urls"]
