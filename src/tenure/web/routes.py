"""Dashboard pages: a login by API key, then one server-rendered page per section whose script
reads the JSON API with the session cookie."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Annotated, Any

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, select_autoescape

from tenure.app import auth
from tenure.app import keys as key_rules
from tenure.app.store import Store
from tenure.engine.segments import SUBSCRIPTION_SEGMENTS, attribute_columns
from tenure.live import LiveWorkspace

PAGES = [
    ("overview", "Overview"),
    ("dashboard", "My dashboard"),
    ("revenue", "Revenue"),
    ("retention", "Retention"),
    ("engagement", "Engagement"),
    ("voice", "Voice of the customer"),
    ("support", "Support"),
    ("goals", "Goals"),
    ("accounts", "Accounts"),
    ("automations", "Automations"),
    ("surveys", "Surveys"),
    ("sources", "Sources"),
]
# The built-in subscription segments in the segment picker, labelled apart from the accounts'
# own attributes (a loaded `plan` is the sign-up plan; paid_plan is the plan being paid for).
PAID_SEGMENTS = {
    "paid_plan": "Paid plan (billing)",
    "billing_interval": "Billing interval (billing)",
    "billing_currency": "Billing currency (billing)",
}
assert set(PAID_SEGMENTS) == set(SUBSCRIPTION_SEGMENTS)
WITH_PICKERS = {"overview", "dashboard", "revenue", "retention", "engagement", "voice", "support"}
_templates = Environment(
    loader=PackageLoader("tenure.web", "templates"), autoescape=select_autoescape(default=True)
)


def mount(app: FastAPI) -> None:
    """The login, logout and page routes, over the live workspace and store in `app.state`."""
    live: LiveWorkspace = app.state.live
    store: Store = app.state.store
    static = resources.files("tenure.web").joinpath("static")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    def render(name: str, **values: Any) -> HTMLResponse:
        return HTMLResponse(_templates.get_template(name).render(**values))

    @app.get("/login", include_in_schema=False)
    def login_form() -> HTMLResponse:
        return render("login.html")

    throttle = auth.LoginThrottle()
    app.state.login_throttle = throttle

    @app.post("/login", include_in_schema=False)
    def login(request: Request, api_key: Annotated[str, Form(max_length=200)]) -> Response:
        client = request.client.host if request.client else "unknown"
        wait = throttle.retry_after(client)
        if wait is not None:
            page = render("login.html", message="Too many failed logins; try again later.")
            page.status_code = 429
            page.headers["Retry-After"] = str(wait)
            return page
        record = key_rules.check_key(store, api_key.strip())
        if record is None:
            throttle.failed(client)
            page = render("login.html", message="That API key is not valid.")
            page.status_code = 401
            return page
        secure = request.url.scheme == "https"
        response = RedirectResponse("/overview", status_code=303)
        response.set_cookie(
            auth.COOKIE,
            auth.issue(store, record),
            max_age=auth.SESSION_SECONDS,
            httponly=True,
            samesite="lax",
            secure=secure,
        )
        # Read by the page's script to echo it in X-CSRF-Token, so not HttpOnly.
        response.set_cookie(auth.CSRF_COOKIE, auth.new_csrf(), samesite="lax", secure=secure)
        return response

    @app.get("/logout", include_in_schema=False)
    def logout(request: Request) -> Response:
        auth.end(store, request.cookies.get(auth.COOKIE))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(auth.COOKIE, httponly=True, samesite="lax")
        response.delete_cookie(auth.CSRF_COOKIE, samesite="lax")
        return response

    def show(request: Request, slug: str, title: str, account_id: str | None = None) -> Response:
        user = auth.resolve(store, request.cookies.get(auth.COOKIE))
        if user is None:
            return RedirectResponse("/login", status_code=303)
        with live.reader() as ws:
            attributes = attribute_columns(ws.table("accounts"))
        return render(
            "page.html",
            page=slug,
            title=title,
            pages=PAGES,
            pickers=slug in WITH_PICKERS,
            params=dict(request.query_params),
            attributes=attributes,
            paid_segments=PAID_SEGMENTS,
            paid_metrics=_paid_metrics(),
            user=user.name,
            role=user.role,
            account_id=account_id,
        )

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        """Swagger UI from the vendored files under /static/swagger (works offline; no CDN)."""
        return render("docs.html", openapi_url=app.openapi_url or "/openapi.json")

    @app.get("/", include_in_schema=False)
    def home() -> Response:
        return RedirectResponse("/overview", status_code=303)

    for slug, title in PAGES:

        def page(request: Request, slug: str = slug, title: str = title) -> Response:
            return show(request, slug, title)

        app.add_api_route(f"/{slug}", page, methods=["GET"], include_in_schema=False)

    @app.get("/accounts/{account_id}", include_in_schema=False)
    def account_page(request: Request, account_id: str) -> Response:
        return show(request, "account", f"Account {account_id}", account_id)


@cache
def _paid_metrics() -> list[str]:
    """The catalog metrics a paid segment can split (the dashboard shows the others unsplit)."""
    from tenure.metrics.catalog import CATALOG
    from tenure.metrics.compute import splits_by_subscription

    return [name for name, m in CATALOG.items() if splits_by_subscription(m)]
