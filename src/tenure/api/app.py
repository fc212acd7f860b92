"""The FastAPI application: API keys with roles on every route but the public survey form,
problem details for every error, a body-size limit, pagination, and no SQL built from text
(filters go through the engine's filter parser, values are passed as parameters)."""

import contextlib
import datetime as dt
import io
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Annotated, Any

import pandas as pd
from fastapi import Depends, FastAPI, Form, Header, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from tenure.api.form import render
from tenure.api.problems import PROBLEM, BodyLimit, problem
from tenure.app import automations
from tenure.app import goals as goal_rules
from tenure.app import keys as key_rules
from tenure.app import surveys as survey_rules
from tenure.app.store import ApiKey, AuditEntry, AutomationRule, Dashboard, Store, Survey, now
from tenure.errors import TenureError
from tenure.web import session as web_session
from tenure.workspace import Workspace

MAX_BODY = 5_000_000
# Row ids in paths: positive and within a 32-bit integer, which every app database stores.
Id = Annotated[int, Path(ge=1, le=2_147_483_647)]
# Dates a calendar can shift by years without leaving the range of Python dates.
Day = Annotated[dt.date, Field(ge=dt.date(1900, 1, 1), le=dt.date(2199, 12, 31))]
INGESTIBLE = ("events", "survey_responses", "tickets")


class Problem(HTTPException):
    def __init__(self, status: int, title: str, detail: str = "") -> None:
        super().__init__(status_code=status, detail=detail)
        self.title = title


def json_string(value: str) -> str:
    """A text value as a filter literal: quoted, with quotes doubled (the filter parser reads it
    as one string, never as syntax)."""
    return "'" + value.replace("'", "''") + "'"


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts: NaN as null, dates as ISO text, decimals as exact strings."""
    clean = frame.astype(object).where(frame.notna(), None)
    return [
        {
            str(k): (v.isoformat() if isinstance(v, (dt.date, dt.datetime)) else v)
            for k, v in row.items()
        }
        for row in clean.to_dict("records")
    ]


class GoalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(pattern="^(metric|number|boolean|tasks)$")
    owner: str | None = Field(default=None, max_length=200)
    metric: str | None = Field(default=None, max_length=100)
    segment_by: str | None = Field(default=None, max_length=100)
    segment_value: str | None = Field(default=None, max_length=200)
    unit: str = Field(default="number", pattern="^(number|currency|percent)$")
    start_value: float = 0.0
    target_value: float = 1.0
    current_value: float | None = None
    done: bool = False
    tasks: list[dict[str, Any]] = Field(default_factory=list, max_length=200)
    start_date: dt.date
    due_date: dt.date
    display: str = Field(default="bar", pattern="^(bar|pie|thermometer)$")


class GoalPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    owner: str | None = Field(default=None, max_length=200)
    target_value: float | None = None
    current_value: float | None = None
    done: bool | None = None
    tasks: list[dict[str, Any]] | None = Field(default=None, max_length=200)
    due_date: dt.date | None = None
    display: str | None = Field(default=None, pattern="^(bar|pie|thermometer)$")


class SurveyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(pattern="^(nps|csat|ces|custom)$")
    question: str = Field(min_length=1, max_length=1000)
    comment_prompt: str = Field(default="Anything you would like to add?", max_length=1000)
    scale_min: int | None = Field(default=None, ge=0, le=100)
    scale_max: int | None = Field(default=None, ge=1, le=100)
    touchpoint: str | None = Field(default=None, max_length=100)
    language: str | None = Field(default=None, max_length=20)


class InvitationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account_id: str | None = Field(default=None, max_length=200)
    user_id: str | None = Field(default=None, max_length=200)
    days: int = Field(default=14, ge=1, le=365)
    channel: str = Field(default="email", max_length=50)


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    trigger: dict[str, Any]
    conditions: list[dict[str, Any]] = Field(default_factory=list, max_length=20)
    actions: list[dict[str, Any]] = Field(min_length=1, max_length=20)
    enabled: bool = True


class RulePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool


class Widget(BaseModel):
    model_config = ConfigDict(extra="forbid")
    metric: str = Field(min_length=1, max_length=100)
    type: str = Field(pattern="^(number|line|bar|pie)$")
    by: str | None = Field(default=None, max_length=100)


class DashboardIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    widgets: list[Widget] = Field(max_length=30)


class IngestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rows: list[dict[str, Any]] = Field(min_length=1, max_length=10_000)


def create_app(
    workspace: Workspace, store: Store, *, base_url: str = "", schedule_seconds: float | None = None
) -> FastAPI:
    """The API over one workspace and one app store. Engine calls are serialised: an embedded
    DuckDB connection is not shared between threads."""
    lock = threading.Lock()
    # Metric results by request and data version: a load through this workspace moves the
    # version, so nothing stale is served after new data arrives.
    cache: dict[tuple[Any, ...], pd.DataFrame] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        """Run the automations every `schedule_seconds` while the server is up."""
        if not schedule_seconds:
            yield
            return
        from apscheduler.schedulers.background import BackgroundScheduler

        def tick() -> None:
            with lock:
                automations.run(store, workspace)

        scheduler = BackgroundScheduler(timezone="UTC")
        scheduler.add_job(
            tick, "interval", seconds=schedule_seconds, max_instances=1, coalesce=True
        )
        scheduler.start()
        try:
            yield
        finally:
            scheduler.shutdown(wait=False)

    app = FastAPI(
        title="Tenure",
        version="0.1.0",
        description="Customer-success metrics API.",
        lifespan=lifespan,
    )

    def api_key(
        request: Request,
        authorization: Annotated[str | None, Header()] = None,
        x_api_key: Annotated[str | None, Header()] = None,
    ) -> ApiKey:
        bearer = (
            authorization[7:]
            if authorization and authorization.lower().startswith("bearer ")
            else None
        )
        token = x_api_key or bearer
        if token is not None:
            record = key_rules.check_key(store, token)
        else:  # a browser session of the dashboard
            record = web_session.resolve(store, request.cookies.get(web_session.COOKIE))
            unsafe = request.method not in ("GET", "HEAD", "OPTIONS")
            csrf = request.cookies.get(web_session.CSRF_COOKIE)
            if (
                record is not None
                and unsafe
                and (not csrf or request.headers.get("x-csrf-token") != csrf)
            ):
                raise Problem(
                    403, "Forbidden", "a write from the dashboard needs its X-CSRF-Token header"
                )
        if record is None:
            raise Problem(
                401, "Unauthorized", "send a valid API key as `Authorization: Bearer <key>`"
            )
        return record

    def role(needed: str) -> Callable[..., ApiKey]:
        def check(key: Annotated[ApiKey, Depends(api_key)]) -> ApiKey:
            if not key_rules.allows(key.role, needed):
                raise Problem(
                    403, "Forbidden", f"this needs the {needed} role; the key is {key.role}"
                )
            return key

        return check

    Viewer = Annotated[ApiKey, Depends(role("viewer"))]
    Editor = Annotated[ApiKey, Depends(role("editor"))]
    Role_admin = Annotated[ApiKey, Depends(role("admin"))]

    def audit(key: ApiKey, action: str, detail: str) -> None:
        with store.session() as session:
            session.add(AuditEntry(actor=key.name, action=action, detail=detail[:2000]))

    # -- errors ---------------------------------------------------------------------------------
    def respond(request: Request, status: int, title: str, detail: str) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse(
            problem(status, title, detail, request.url.path),
            status,
            media_type=PROBLEM,
            headers=headers,
        )

    @app.exception_handler(Problem)
    async def on_problem(request: Request, exc: Problem) -> JSONResponse:
        return respond(request, exc.status_code, exc.title, str(exc.detail))

    @app.exception_handler(HTTPException)
    async def on_http(request: Request, exc: HTTPException) -> JSONResponse:
        return respond(request, exc.status_code, "HTTP error", str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:10]
        )
        return respond(request, 422, "Invalid request", errors)

    @app.exception_handler(TenureError)
    async def on_tenure(request: Request, exc: TenureError) -> JSONResponse:
        status = getattr(exc, "status", 400)
        return respond(request, status, "Request cannot be served", str(exc))

    @app.exception_handler(Exception)
    async def on_crash(request: Request, exc: Exception) -> JSONResponse:
        return respond(request, 500, "Internal error", "the server could not complete the request")

    # -- metrics ------------------------------------------------------------------------------
    @app.get("/health", include_in_schema=False)
    def alive() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/metrics/catalog", summary="The metric catalog")
    def catalog(_: Viewer) -> list[dict[str, Any]]:
        from tenure.metrics.catalog import CATALOG

        return [
            {
                "name": m.name,
                "area": m.area,
                "unit": m.unit,
                "description": m.description,
                "definition": m.definition,
                "dimensions": list(m.dimensions),
            }
            for m in CATALOG.values()
        ]

    @app.get("/api/metrics", summary="Metrics per period and segment")
    def metrics(
        _: Viewer,
        names: Annotated[list[str], Query(min_length=1, max_length=50)],
        grain: Annotated[str, Query(pattern="^(day|week|month|quarter|year)$")] = "month",
        start: Annotated[Day | None, Query(alias="from")] = None,
        end: Annotated[Day | None, Query(alias="to")] = None,
        by: Annotated[list[str] | None, Query(max_length=3)] = None,
        where: Annotated[str | None, Query(max_length=500)] = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
        offset: Annotated[int, Query(ge=0, le=2_147_483_647)] = 0,
    ) -> dict[str, Any]:
        request_key = (
            tuple(names),
            grain,
            start,
            end,
            tuple(by or ()),
            where,
            workspace.data_version,
        )
        with lock:
            frame = cache.get(request_key)
            if frame is None:
                frame = workspace.metrics(
                    names, grain=grain, start=start, end=end, by=by or (), where=where
                )
                if len(cache) >= 256:
                    cache.pop(next(iter(cache)))
                cache[request_key] = frame
        page = frame.iloc[offset : offset + limit]
        return {
            "items": _records(page),
            "total": len(frame),
            "limit": limit,
            "offset": offset,
            "units": frame.attrs["units"],
            "definitions": frame.attrs["definitions"],
            "reporting_currency": frame.attrs["reporting_currency"],
        }

    @app.get("/api/drill/{name}", summary="The accounts behind one metric in one period")
    def drill(
        _: Viewer,
        name: Annotated[str, Path(max_length=100)],
        period: Annotated[str, Query(max_length=20)],
        grain: Annotated[str, Query(pattern="^(day|week|month|quarter|year)$")] = "month",
        where: Annotated[str | None, Query(max_length=500)] = None,
    ) -> list[dict[str, Any]]:
        with lock:
            return _records(workspace.drill(name, period, grain=grain, where=where))

    @app.get("/api/cohorts", summary="Logo and revenue retention by first-paid cohort")
    def cohort_table(
        _: Viewer,
        start: Annotated[Day | None, Query(alias="from")] = None,
        end: Annotated[Day | None, Query(alias="to")] = None,
        where: Annotated[str | None, Query(max_length=500)] = None,
    ) -> list[dict[str, Any]]:
        with lock:
            return _records(workspace.cohorts(start=start, end=end, where=where))

    @app.get("/api/survival", summary="Kaplan-Meier survival of account lifetimes")
    def survival_curve(
        _: Viewer,
        by: Annotated[list[str] | None, Query(max_length=2)] = None,
        where: Annotated[str | None, Query(max_length=500)] = None,
    ) -> dict[str, Any]:
        with lock:
            curve, summary = workspace.survival(by=by or (), where=where)
        return {"curve": _records(curve), "summary": _records(summary)}

    @app.get("/api/feedback", summary="Survey comments with language, sentiment and themes")
    def feedback_comments(
        _: Viewer,
        start: Annotated[Day | None, Query(alias="from")] = None,
        end: Annotated[Day | None, Query(alias="to")] = None,
        contains: Annotated[str | None, Query(max_length=200)] = None,
        survey: Annotated[str | None, Query(pattern="^(nps|csat|ces|custom)$")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0, le=2_147_483_647)] = 0,
    ) -> dict[str, Any]:
        from tenure.text.feedback import COMMENT_COLUMNS, theme_report

        with lock:
            frame = workspace.feedback(
                start=start, end=end, contains=contains or None, survey=survey
            )
        themes = theme_report(frame) if len(frame) else None
        shown = frame.sort_values("responded_at", ascending=False)
        columns = ["response_id", *COMMENT_COLUMNS]
        page = shown[columns].iloc[offset : offset + limit]
        return {
            "items": _records(page),
            "total": len(frame),
            "limit": limit,
            "offset": offset,
            "themes": _records(themes) if themes is not None else [],
        }

    @app.get(
        "/api/accounts/{account_id}/timeline",
        summary="One account's MRR, events, answers and tickets",
    )
    def account_timeline(
        _: Viewer, account_id: Annotated[str, Path(max_length=200)]
    ) -> dict[str, Any]:
        with lock:
            mrr = workspace.metrics(["mrr"], where=f"account_id = {json_string(account_id)}")
            events = workspace.table("events")
            recent = (
                events.filter(events.account_id == account_id)
                .order_by(events.occurred_at.desc())
                .limit(50)
            )
            answers = workspace.table("survey_responses")
            said = (
                answers.filter(answers.account_id == account_id)
                .order_by(answers.responded_at.desc())
                .limit(50)
            )
            tickets = workspace.table("tickets")
            asked = (
                tickets.filter(tickets.account_id == account_id)
                .order_by(tickets.opened_at.desc())
                .limit(50)
            )
            return {
                "mrr": _records(mrr[["period_start", "value"]]),
                "events": _records(
                    recent.select("occurred_at", "name", "user_id", "feature", "page").to_pandas()
                ),
                "answers": _records(
                    said.select(
                        "responded_at", "survey", "score", "comment", "language"
                    ).to_pandas()
                ),
                "tickets": _records(
                    asked.select(
                        "opened_at", "channel", "status", "contacts", "resolved_at"
                    ).to_pandas()
                ),
            }

    @app.get("/api/funnel", summary="Ordered funnel of events with a conversion window")
    def funnel_steps(
        _: Viewer,
        steps: Annotated[list[str], Query(min_length=2, max_length=8)],
        window: Annotated[float, Query(gt=0, le=365)] = 30,
        start: Annotated[Day | None, Query(alias="from")] = None,
        end: Annotated[Day | None, Query(alias="to")] = None,
    ) -> list[dict[str, Any]]:
        with lock:
            return _records(workspace.funnel(steps, window_days=window, start=start, end=end))

    @app.get("/api/surveys/distribution", summary="Answers per score of one survey kind")
    def score_counts(
        _: Viewer,
        survey: Annotated[str, Query(pattern="^(nps|csat|ces|custom)$")],
        start: Annotated[Day, Query(alias="from")],
        end: Annotated[Day, Query(alias="to")],
    ) -> list[dict[str, Any]]:
        from tenure.metrics.voice import score_distribution

        with lock:
            return _records(score_distribution(workspace, survey, start, end))

    # -- accounts -----------------------------------------------------------------------------
    def account_table(as_of: dt.date | None) -> pd.DataFrame:
        with lock:
            health = workspace.health(as_of=as_of)
            try:
                risk = workspace.churn_risk(as_of=as_of)[
                    ["account_id", "churn_probability", "drivers"]
                ]
            except TenureError:
                risk = pd.DataFrame(columns=["account_id", "churn_probability", "drivers"])
        table = health.merge(risk, on="account_id", how="left")
        return table.sort_values(
            ["churn_probability", "health"], ascending=[False, True], na_position="last"
        )

    @app.get("/api/accounts", summary="Paying accounts with health and churn risk, riskiest first")
    def accounts(
        _: Viewer,
        as_of: Day | None = None,
        band: Annotated[str | None, Query(pattern="^(red|yellow|green)$")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0, le=2_147_483_647)] = 0,
    ) -> dict[str, Any]:
        table = account_table(as_of)
        if band:
            table = table[table["band"] == band]
        return {
            "items": _records(table.iloc[offset : offset + limit]),
            "total": len(table),
            "limit": limit,
            "offset": offset,
        }

    @app.get("/api/accounts/{account_id}", summary="One account's health, risk and components")
    def account(
        _: Viewer, account_id: Annotated[str, Path(max_length=200)], as_of: Day | None = None
    ) -> dict[str, Any]:
        table = account_table(as_of)
        rows = table[table["account_id"] == account_id]
        if rows.empty:
            raise Problem(
                404,
                "Not found",
                f"account {account_id!r} is not paying on that day, or does not exist",
            )
        return _records(rows)[0]

    # -- goals ----------------------------------------------------------------------------------
    @app.get("/api/goals", summary="Goals with progress and status")
    def list_goals(
        _: Viewer,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        offset: Annotated[int, Query(ge=0, le=2_147_483_647)] = 0,
    ) -> dict[str, Any]:
        rows, total = goal_rules.page(store, limit, offset)
        with lock:
            items = [goal_rules.view(g, workspace) for g in rows]
        return {"items": items, "total": total, "limit": limit, "offset": offset}

    @app.post("/api/goals", status_code=201, summary="Create a goal")
    def create_goal(key: Editor, body: GoalIn) -> dict[str, Any]:
        with lock:
            shown = goal_rules.create(store, workspace, body.model_dump())
        audit(key, "goal.create", f"{shown['id']}: {shown['name']}")
        return shown

    @app.get("/api/goals/{goal_id}", summary="One goal with progress and status")
    def get_goal(_: Viewer, goal_id: Id) -> dict[str, Any]:
        goal = goal_rules.get(store, goal_id)
        with lock:
            return goal_rules.view(goal, workspace)

    @app.patch("/api/goals/{goal_id}", summary="Update a goal (a hand-kept value, tasks, target)")
    def patch_goal(key: Editor, goal_id: Id, body: GoalPatch) -> dict[str, Any]:
        changes = body.model_dump(exclude_unset=True)
        required = [
            k for k, v in changes.items() if v is None and k not in ("owner", "current_value")
        ]
        if required:
            raise Problem(422, "Invalid request", f"{', '.join(required)} cannot be null")
        with lock:
            shown = goal_rules.update(store, workspace, goal_id, changes)
        audit(key, "goal.update", f"{goal_id}: {sorted(changes)}")
        return shown

    @app.delete("/api/goals/{goal_id}", status_code=204, summary="Delete a goal")
    def delete_goal(key: Editor, goal_id: Id) -> None:
        goal_rules.delete(store, goal_id)
        audit(key, "goal.delete", str(goal_id))

    @app.get("/api/goals/{goal_id}/history", summary="Progress recorded over time")
    def goal_history(_: Viewer, goal_id: Id) -> list[dict[str, Any]]:
        return goal_rules.history(store, goal_id)

    # -- surveys --------------------------------------------------------------------------------
    @app.get("/api/surveys", summary="Surveys")
    def list_surveys(_: Viewer) -> list[dict[str, Any]]:
        return [
            {
                c: getattr(s, c)
                for c in (
                    "id",
                    "name",
                    "kind",
                    "question",
                    "scale_min",
                    "scale_max",
                    "touchpoint",
                    "language",
                )
            }
            for s in survey_rules.surveys(store)
        ]

    @app.get(
        "/api/surveys/response-rates",
        summary="Invitations sent, answered and response rate by survey, channel and segment",
    )
    def response_rates(
        _: Viewer,
        by: Annotated[list[str] | None, Query(max_length=2)] = None,
        where: Annotated[str | None, Query(max_length=500)] = None,
        start: Annotated[Day | None, Query(alias="from")] = None,
        end: Annotated[Day | None, Query(alias="to")] = None,
    ) -> list[dict[str, Any]]:
        with lock:
            rates = survey_rules.response_rates(
                store, workspace, by=by or (), where=where, start=start, end=end
            )
        return _records(rates)

    @app.post("/api/surveys", status_code=201, summary="Create a survey (NPS, CSAT, CES or custom)")
    def create_survey(key: Editor, body: SurveyIn) -> dict[str, Any]:
        low, high = survey_rules.SCALES.get(body.kind, (body.scale_min, body.scale_max))
        low = body.scale_min if body.scale_min is not None else low
        high = body.scale_max if body.scale_max is not None else high
        if low is None or high is None or low >= high:
            raise Problem(422, "Invalid request", "a custom survey needs scale_min < scale_max")
        survey = Survey(**{**body.model_dump(), "scale_min": low, "scale_max": high})
        with store.session() as session:
            session.add(survey)
            session.flush()
            number = survey.id
        audit(key, "survey.create", f"{number}: {body.name}")
        return {"id": number, "kind": body.kind, "scale_min": low, "scale_max": high}

    @app.post(
        "/api/surveys/{survey_id}/invitations",
        status_code=201,
        summary="Invite someone: a signed, expiring, single-use link",
    )
    def create_invitation(key: Editor, survey_id: Id, body: InvitationIn) -> dict[str, str]:
        token = survey_rules.invite(
            store,
            survey_id,
            account_id=body.account_id,
            user_id=body.user_id,
            days=body.days,
            channel=body.channel,
        )
        audit(key, "survey.invite", f"{survey_id}: {body.account_id}/{body.user_id}")
        return {"token": token, "url": f"{base_url}/s/{token}"}

    @app.get("/api/surveys/{survey_id}/responses", summary="Answers collected by a survey's links")
    def survey_responses(_: Viewer, survey_id: Id) -> list[dict[str, Any]]:
        ids = survey_rules.response_ids(store, survey_id)
        with lock:
            answers = workspace.table("survey_responses")
            frame = (
                answers.filter(answers.response_id.isin(ids)).order_by("responded_at").to_pandas()
            )
        return _records(frame)

    @app.get("/s/{token}", response_class=HTMLResponse, include_in_schema=False)
    def survey_form(token: Annotated[str, Path(max_length=500)]) -> HTMLResponse:
        try:
            _, survey = survey_rules.open_invitation(store, token)
        except survey_rules.InvitationError as exc:
            return HTMLResponse(render("Survey", message=str(exc)), status_code=exc.status)
        return HTMLResponse(
            render(survey.name, survey=survey, action=f"/s/{token}", language=survey.language)
        )

    @app.post("/s/{token}", response_class=HTMLResponse, include_in_schema=False)
    def survey_answer(
        token: Annotated[str, Path(max_length=500)],
        score: Annotated[int, Form()],
        comment: Annotated[str | None, Form(max_length=5000)] = None,
    ) -> HTMLResponse:
        try:
            with lock:
                survey_rules.answer(store, workspace, token, score, comment)
        except survey_rules.InvitationError as exc:
            return HTMLResponse(render("Survey", message=str(exc)), status_code=exc.status)
        return HTMLResponse(render("Thank you", message="Your answer has been recorded."))

    # -- automations ----------------------------------------------------------------------------
    def rule_view(rule: Any) -> dict[str, Any]:
        return {
            c: getattr(rule, c)
            for c in ("id", "name", "enabled", "trigger", "conditions", "actions")
        }

    @app.get("/api/automations", summary="Automation rules")
    def list_rules(_: Viewer) -> list[dict[str, Any]]:
        with store.session() as session:
            return [
                rule_view(r)
                for r in session.scalars(select(AutomationRule).order_by(AutomationRule.id))
            ]

    @app.post("/api/automations", status_code=201, summary="Create a when-then rule")
    def create_rule(key: Editor, body: RuleIn) -> dict[str, Any]:
        number = automations.create_rule(
            store, body.name, body.trigger, body.conditions, body.actions, body.enabled
        )
        audit(key, "automation.create", f"{number}: {body.name}")
        return {"id": number}

    @app.patch("/api/automations/{rule_id}", summary="Enable or disable a rule")
    def patch_rule(key: Editor, rule_id: Id, body: RulePatch) -> dict[str, Any]:
        with store.session() as session:
            rule = session.get(AutomationRule, rule_id)
            if rule is None:
                raise Problem(404, "Not found", f"no rule {rule_id}")
            rule.enabled = body.enabled
            shown = rule_view(rule)
        audit(key, "automation.update", f"{rule_id}: enabled={body.enabled}")
        return shown

    @app.delete("/api/automations/{rule_id}", status_code=204, summary="Delete a rule")
    def delete_rule(key: Editor, rule_id: Id) -> None:
        with store.session() as session:
            rule = session.get(AutomationRule, rule_id)
            if rule is None:
                raise Problem(404, "Not found", f"no rule {rule_id}")
            session.delete(rule)
        audit(key, "automation.delete", str(rule_id))

    @app.post(
        "/api/automations/{rule_id}/dry-run",
        summary="What the rule would fire now; records nothing",
    )
    def dry_run(_: Editor, rule_id: Id) -> list[dict[str, Any]]:
        with lock:
            return automations.run(store, workspace, dry_run=True, rule_ids=[rule_id]).fired

    @app.get("/api/automations/{rule_id}/firings", summary="A rule's firings and their deliveries")
    def rule_firings(_: Viewer, rule_id: Id) -> list[dict[str, Any]]:
        return automations.firings(store, rule_id)

    @app.get("/api/dead-letters", summary="Deliveries that failed every attempt")
    def dead_letters(_: Viewer) -> list[dict[str, Any]]:
        return automations.firings(store, status="dead")

    @app.post("/api/dead-letters/{delivery_id}/retry", summary="Queue a dead letter again")
    def retry(key: Role_admin, delivery_id: Id) -> dict[str, str]:
        automations.retry_dead(store, delivery_id)
        audit(key, "automation.retry", str(delivery_id))
        return {"status": "pending"}

    @app.post("/api/automations/run", summary="Run every enabled rule now")
    def run_now(key: Role_admin) -> dict[str, Any]:
        with lock:
            report = automations.run(store, workspace)
        audit(key, "automation.run", f"{len(report.fired)} fired, {report.sent} sent")
        return {
            "fired": report.fired,
            "sent": report.sent,
            "retrying": report.retrying,
            "dead": report.dead,
        }

    # -- dashboards -------------------------------------------------------------------------------
    @app.get("/api/dashboard", summary="The caller's own dashboard: its widgets in order")
    def my_dashboard(key: Viewer) -> dict[str, Any]:
        with store.session() as session:
            board = session.get(Dashboard, key.id)
            return {"widgets": board.widgets if board else []}

    @app.put("/api/dashboard", summary="Save the caller's dashboard (add, remove, reorder widgets)")
    def save_dashboard(key: Viewer, body: DashboardIn) -> dict[str, Any]:
        from tenure.metrics.catalog import metric

        for widget in body.widgets:
            metric(widget.metric)
        widgets = [w.model_dump() for w in body.widgets]
        with store.session() as session:
            board = session.get(Dashboard, key.id)
            if board is None:
                session.add(Dashboard(key_id=key.id, widgets=widgets))
            else:
                board.widgets = widgets
                board.updated_at = now()
        return {"widgets": widgets}

    # -- ingestion and export -------------------------------------------------------------------
    @app.post("/api/ingest/{table}", summary="Load a batch of events, survey responses or tickets")
    def ingest(
        key: Editor, table: Annotated[str, Path(max_length=50)], body: IngestIn
    ) -> dict[str, Any]:
        if table not in INGESTIBLE:
            raise Problem(
                404,
                "Not found",
                f"ingestion takes {', '.join(INGESTIBLE)}; load other tables with `tenure load`",
            )
        with lock:
            report = workspace.load(table, pd.DataFrame(body.rows))
        audit(key, "ingest", f"{table}: {report.inserted} inserted, {report.rejected} rejected")
        rejects = [
            {"row": r.line, "column": r.column, "value": r.value, "reason": r.reason}
            for r in report.rejects[:100]
        ]
        return {
            "table": table,
            "read": report.rows_read,
            "inserted": report.inserted,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "rejected": report.rejected,
            "rejects": rejects,
        }

    @app.get("/api/export/{table}", summary="A table as CSV")
    def export(_: Viewer, table: Annotated[str, Path(max_length=50)]) -> StreamingResponse:
        from tenure.data.contract import CONTRACTS

        if table not in CONTRACTS:
            raise Problem(404, "Not found", f"tables: {', '.join(CONTRACTS)}")
        with lock:
            frame = workspace.table(table).to_pandas()
        buffer = io.StringIO()
        frame.to_csv(buffer, index=False)

        def chunks() -> Iterator[str]:
            yield buffer.getvalue()

        return StreamingResponse(
            chunks(),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{table}.csv"'},
        )

    from tenure.web.routes import mount

    mount(app, workspace, store, lock)
    return BodyLimit(app, MAX_BODY)  # type: ignore[return-value]
