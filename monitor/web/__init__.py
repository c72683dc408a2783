"""ccmon's HTTP side, along its seams.

- :mod:`monitor.web.routes`: the aiohttp application, /metrics, /healthz, the JSON API and
  the page handlers;
- :mod:`monitor.web.server`: the server thread with its own event loop;
- :mod:`monitor.web.limits`: what a party that reaches the port can hold (connections,
  header deadline, quiet errors);
- :mod:`monitor.web.pages`: the HTML pages, rendered from ``templates/`` with autoescape,
  and their ``static/`` stylesheet and script.
"""

from monitor.config import parse_listen
from monitor.web.pages.common import expiry_text
from monitor.web.pages.overview import render_status_page
from monitor.web.routes import PAGE_CACHE_KEY, PAGE_CSP, make_app
from monitor.web.server import WebServer

__all__ = ["PAGE_CACHE_KEY", "PAGE_CSP", "WebServer", "expiry_text", "make_app", "parse_listen",
           "render_status_page"]
