"""The web application at /app: the whole product in a browser, for the team.

Server-rendered pages (Jinja2 templates under `templates/`, autoescaped, one
`layout.html`), htmx for partial updates and live figures, uPlot for charts:
all served from `/static/`, so no page asks another host for anything. Pages
call the same services as the API with the signed-in user's principal, so
roles, list limits and field masking hold here as they do there.
"""
