"""The HTML pages: the status overview at / and one page per zone at /zone/<zone>.

Rendering lives here, apart from the HTTP plumbing in :mod:`monitor.web.routes`: the
overview is rendered once per snapshot change into a
:class:`monitor.web.pages.cache.PageCache`; its script and stylesheet are static files
(:mod:`monitor.web.pages.serve`), so the pages work under a Content-Security-Policy without
'unsafe-inline'.
"""
