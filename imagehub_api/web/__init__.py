"""The server-rendered portal: Jinja2 pages with HTMX fragments over the same services as the API."""
