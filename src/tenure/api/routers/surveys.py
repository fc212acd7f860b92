"""Surveys: definitions, signed single-use invitation links, the answers they collect, response
rates, score distributions, and the public form a link opens (no key: the token is the proof)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Query, Response
from fastapi.responses import HTMLResponse

from tenure.api.deps import BaseUrl, CachedReads, Editor, Live, StoreDep, Viewer, audit
from tenure.api.form import render
from tenure.api.frames import records
from tenure.api.problems import EXPENSIVE, Problem, errors
from tenure.api.routers.metrics import (
    CSV_ANSWER,
    Format,
    Limit,
    PageOffset,
    Where,
    behind_page,
    one_value,
    rows_or_csv,
)
from tenure.api.schemas import (
    BehindPage,
    Day,
    Id,
    InvitationIn,
    InvitationOut,
    Row,
    SurveyCreated,
    SurveyIn,
    SurveyOut,
)
from tenure.app import surveys as survey_rules
from tenure.app.store import Invitation, Survey
from tenure.engine.bounds import check_by
from tenure.workspace import Workspace

router = APIRouter()
Kind = Annotated[str, Query(pattern="^(nps|csat|ces|custom)$")]
Token = Annotated[str, Path(max_length=500)]


@router.get("/api/surveys", summary="Surveys")
def list_surveys(_: Viewer, store: StoreDep) -> list[SurveyOut]:
    return [
        SurveyOut(
            id=s.id,
            name=s.name,
            kind=s.kind,
            question=s.question,
            scale_min=s.scale_min,
            scale_max=s.scale_max,
            touchpoint=s.touchpoint,
            language=s.language,
        )
        for s in survey_rules.surveys(store)
    ]


@router.get(
    "/api/surveys/response-rates",
    summary="Invitations sent, answered and response rate by survey, channel and segment",
    response_model=list[Row],
    responses=errors(*EXPENSIVE),
)
def response_rates(
    read: CachedReads,
    store: StoreDep,
    by: Annotated[list[str] | None, Query(max_length=2)] = None,
    where: Annotated[str | None, Query(max_length=500)] = None,
    start: Annotated[Day | None, Query(alias="from")] = None,
    end: Annotated[Day | None, Query(alias="to")] = None,
) -> Response:
    """Cached while the workspace's accounts and the app store are unchanged."""

    def rates(ws: Workspace) -> list[Row]:
        found = survey_rules.response_rates(
            store, ws, by=by or (), where=where, start=start, end=end
        )
        return records(found)

    return read.respond(rates, list[Row], store_state=store.state())


First = Annotated[Day, Query(alias="from")]
Last = Annotated[Day, Query(alias="to")]
Score = Annotated[float, Query(ge=-1_000_000, le=1_000_000)]
Attribute = Annotated[str | None, Query(max_length=100)]
AttributeValue = Annotated[str | None, Query(max_length=200)]


@router.get(
    "/api/surveys/distribution",
    summary="Answers per score of one survey kind, of the accounts in the filter, per segment",
    response_model=list[Row],
    responses=errors(*EXPENSIVE),
)
def score_counts(
    read: CachedReads,
    survey: Kind,
    start: First,
    end: Last,
    by: Annotated[list[str] | None, Query(max_length=2)] = None,
    where: Where = None,
) -> Response:
    """`where` keeps the answers of the accounts it matches; `by` splits by account attributes
    (the paid-plan segments split revenue metrics only, and are refused here)."""
    from tenure.metrics.voice import score_distribution

    segments = check_by(by or [])
    return read.respond(
        lambda ws: records(score_distribution(ws, survey, start, end, where=where, by=segments)),
        list[Row],
    )


@router.get(
    "/api/surveys/distribution/drill",
    summary="The answers behind one bar of a score distribution (format=csv: as a CSV file)",
    response_model=list[Row],
    responses={
        **CSV_ANSWER,
        **errors(*EXPENSIVE),
    },
)
def score_drill(
    read: CachedReads,
    survey: Kind,
    score: Score,
    start: First,
    end: Last,
    where: Where = None,
    by: Attribute = None,
    value: AttributeValue = None,
    format: Format = "json",
) -> Response:
    """`by` and `value` keep the answers of one segment's bar (accounts whose attribute `by`
    is `value`)."""
    from tenure.metrics.voice import score_responses

    segment = one_value("by", by, value)
    return rows_or_csv(
        read,
        lambda ws: score_responses(ws, survey, score, start, end, where=where, segment=segment),
        format,
        f"{survey}-{score:g}" + (f"-{value}" if segment else ""),
    )


@router.get(
    "/api/surveys/distribution/drill/page",
    summary="The answers behind one bar of a score distribution, with the answers giving that "
    "score and all answers of the survey in the range (and segment)",
    response_model=BehindPage,
    responses=errors(*EXPENSIVE),
)
def score_drill_page(
    read: CachedReads,
    survey: Kind,
    score: Score,
    start: First,
    end: Last,
    where: Where = None,
    by: Attribute = None,
    value: AttributeValue = None,
    limit: Limit = 100,
    offset: PageOffset = 0,
) -> Response:
    from tenure.metrics.voice import score_responses

    segment = one_value("by", by, value)

    def page(ws: Workspace) -> BehindPage:
        frame = score_responses(ws, survey, score, start, end, where=where, segment=segment)
        return behind_page(frame, limit, offset, ws.reporting_currency)

    return read.respond(page, BehindPage)


@router.post("/api/surveys", status_code=201, summary="Create a survey (NPS, CSAT, CES or custom)")
def create_survey(key: Editor, store: StoreDep, body: SurveyIn) -> SurveyCreated:
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
    audit(store, key, "survey.create", f"{number}: {body.name}")
    return SurveyCreated(id=number, kind=body.kind, scale_min=low, scale_max=high)


@router.post(
    "/api/surveys/{survey_id}/invitations",
    status_code=201,
    summary="Invite someone: a signed, expiring, single-use link",
    responses=errors(404),
)
def create_invitation(
    key: Editor, store: StoreDep, base_url: BaseUrl, survey_id: Id, body: InvitationIn
) -> InvitationOut:
    token = survey_rules.invite(
        store,
        survey_id,
        account_id=body.account_id,
        user_id=body.user_id,
        days=body.days,
        channel=body.channel,
    )
    audit(store, key, "survey.invite", f"{survey_id}: {body.account_id}/{body.user_id}")
    return InvitationOut(token=token, url=f"{base_url}/s/{token}")


@router.get(
    "/api/surveys/{survey_id}/responses",
    summary="Answers collected by a survey's links",
    responses=errors(404),
)
def survey_responses(_: Viewer, live: Live, store: StoreDep, survey_id: Id) -> list[Row]:
    ids = survey_rules.response_ids(store, survey_id)
    with live.reader() as ws:
        answers = ws.table("survey_responses")
        frame = answers.filter(answers.response_id.isin(ids)).order_by("responded_at").to_pandas()
    return records(frame)


@router.get("/s/{token}", response_class=HTMLResponse, include_in_schema=False)
def survey_form(store: StoreDep, token: Token) -> HTMLResponse:
    try:
        _, survey = _open(store, token)
    except survey_rules.InvitationError as exc:
        return HTMLResponse(render("Survey", message=str(exc)), status_code=exc.status)
    return HTMLResponse(
        render(survey.name, survey=survey, action=f"/s/{token}", language=survey.language)
    )


@router.post("/s/{token}", response_class=HTMLResponse, include_in_schema=False)
def survey_answer(
    live: Live,
    store: StoreDep,
    token: Token,
    score: Annotated[int, Form()],
    comment: Annotated[str | None, Form(max_length=5000)] = None,
) -> HTMLResponse:
    try:
        _open(store, token)  # refuse a bad link before queueing to write
        with live.writer() as ws:  # the answer is loaded into survey_responses
            survey_rules.answer(store, ws, token, score, comment)
    except survey_rules.InvitationError as exc:
        return HTMLResponse(render("Survey", message=str(exc)), status_code=exc.status)
    return HTMLResponse(render("Thank you", message="Your answer has been recorded."))


def _open(store: StoreDep, token: str) -> tuple[Invitation, Survey]:
    """A link's invitation; a token with other than ASCII characters was never signed here (and
    the signature comparison refuses such text with a TypeError)."""
    if not token.isascii():
        raise survey_rules.InvitationError("this survey link is not valid", 404)
    return survey_rules.open_invitation(store, token)
