"""The dashboard in a real browser (Playwright driving the system Chromium, headless): every page
loads, numbers equal the API's, pickers change them, a goal created in the UI appears with its
progress, CSV and PNG exports download, and a customer's `<script>` comment stays text.
Screenshots of each page are saved under artifacts/screenshots/."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

import tenure
from tenure import demo
from tenure.api.app import create_app
from tenure.api.deps import RateLimiter
from tenure.app.keys import create_key
from tenure.app.store import Store
from tenure.models import account_snapshot
from tenure.web.routes import PAGES
from tests.served import serving

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="needs the system Chromium; `make test` installs it"
)
SHOTS = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots"
XSS = '<script>window.__tenure_xss = 1</script><img src=x onerror="window.__tenure_xss = 2"> slow reports'


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:

    folder = tmp_path_factory.mktemp("web")
    ws = tenure.connect(f"duckdb:///{folder / 'web.duckdb'}")
    demo.build(ws, folder / "demo", accounts=300, events=30_000, seed=4, as_of=dt.date(2026, 11, 1))
    ws.load(
        "survey_responses",
        pd.DataFrame(
            [
                {
                    "response_id": "XSS1",
                    "account_id": "A000001",
                    "survey": "nps",
                    "score": 2,
                    "comment": XSS,
                    "language": "en",
                    "responded_at": dt.datetime(2026, 9, 15, 10),
                }
            ]
        ),
    )
    # The server refreshes the snapshot after loads; this one was loaded before it started.
    account_snapshot.refresh(ws)
    store = Store(f"sqlite:///{folder / 'app.db'}")
    key = create_key(store, "browser", "admin")
    app = create_app(ws, store)
    # One key views every page here in quick succession, as no user does: the limit on its
    # expensive requests (tested in test_cached_reads) would make these tests flaky.
    app.state.limiter = RateLimiter(burst=100_000, per_minute=100_000)
    with serving(app) as base:
        yield {"base": base, "key": key}
    ws.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, server: dict[str, Any]) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1300, "height": 1000}, accept_downloads=True)
    # Anything the Content-Security-Policy blocks is recorded and fails the test.
    context.add_init_script(
        "window.__csp = []; document.addEventListener('securitypolicyviolation',"
        " (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    tab = context.new_page()
    violations: list[str] = []
    tab.on("console", lambda m: "Content Security Policy" in m.text and violations.append(m.text))
    tab.goto(server["base"] + "/overview")
    assert tab.url.endswith("/login")  # no session: the login page
    tab.fill("input[name=api_key]", server["key"])
    tab.click("button[type=submit]")
    tab.wait_for_url("**/overview")
    yield tab
    blocked = [*violations, *(tab.evaluate("window.__csp || []") if not tab.is_closed() else [])]
    context.close()
    assert blocked == [], blocked


def _open(page: Any, server: dict[str, Any], path: str) -> None:
    page.goto(server["base"] + path)
    page.wait_for_selector("#page[data-loaded]", timeout=60_000)
    assert page.get_attribute("#page", "data-loaded") == "1", page.inner_text("#error")


def _api(server: dict[str, Any], path: str, params: dict[str, Any]) -> Any:
    response = httpx.get(
        server["base"] + path,
        params=params,
        headers={"Authorization": f"Bearer {server['key']}"},
        timeout=60,
    )
    response.raise_for_status()
    return response.json()


def test_the_period_pickers_show_the_default_range(page: Any, server: dict[str, Any]) -> None:
    today = dt.datetime.now(dt.UTC).date()
    months = today.year * 12 + today.month - 1 - 1  # the last complete month
    last, first = months, months - 11
    _open(page, server, "/overview")
    shown = (page.input_value("input[name=from]"), page.input_value("input[name=to]"))
    assert shown == (f"{first // 12}-{first % 12 + 1:02d}", f"{last // 12}-{last % 12 + 1:02d}")


def test_every_page_loads_and_is_captured(page: Any, server: dict[str, Any]) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for slug in (
        "overview",
        "revenue",
        "retention",
        "engagement",
        "voice",
        "support",
        "goals",
        "accounts",
        "accounts/A000001",
        "automations",
        "surveys",
    ):
        _open(page, server, f"/{slug}?from=2026-01&to=2026-09")
        assert page.locator("main h1").inner_text()
        page.screenshot(path=str(SHOTS / f"{slug.replace('/', '-')}.png"), full_page=True)
    wrong = page.context.browser.new_context().new_page()
    wrong.goto(server["base"] + "/login")
    wrong.fill("input[name=api_key]", "tk_wrong")
    wrong.click("button[type=submit]")
    assert "not valid" in wrong.inner_text("body")
    wrong.context.close()


def test_kpi_cards_equal_the_api_and_the_pickers_change_them(
    page: Any, server: dict[str, Any]
) -> None:
    _open(page, server, "/overview?from=2026-01&to=2026-09")
    names = ["mrr", "nrr", "customer_churn_rate", "csat", "fcr"]
    api = pd.DataFrame(
        _api(
            server,
            "/api/metrics",
            {"names": names, "from": "2026-01-01", "to": "2026-09-01", "limit": 10000},
        )["items"]
    )
    for name in names:
        known = api[(api.metric == name) & api.value.notna()]
        shown = page.get_attribute(f".card[data-metric={name}]", "data-value")
        assert float(shown) == pytest.approx(float(known.iloc[-1]["value"]), rel=1e-9), name
    september = page.get_attribute(".card[data-metric=mrr]", "data-value")
    page.fill("input[name=to]", "2026-03")
    page.click("#pickers button[type=submit]")
    page.wait_for_selector("#page[data-loaded]")
    march = page.get_attribute(".card[data-metric=mrr]", "data-value")
    expected = _api(
        server, "/api/metrics", {"names": "mrr", "from": "2026-01-01", "to": "2026-03-01"}
    )["items"][-1]["value"]
    assert march != september and float(march) == pytest.approx(float(expected))
    assert page.get_attribute(".card[data-metric=mrr]", "data-period") == "2026-03-01"


def test_a_goal_created_in_the_ui_appears_with_its_progress(
    page: Any, server: dict[str, Any]
) -> None:
    _open(page, server, "/goals")
    page.fill("#new-goal input[name=name]", "Publish case studies")
    page.fill("#new-goal input[name=start_value]", "0")
    page.fill("#new-goal input[name=target_value]", "8")
    page.fill("#new-goal input[name=current_value]", "2")
    page.fill("#new-goal input[name=due_date]", "2099-12-31")
    page.select_option("#new-goal select[name=display]", "thermometer")
    page.click("#new-goal button[type=submit]")
    goal = page.locator("[data-goal='Publish case studies']")
    goal.wait_for()
    assert "25% (expected" in goal.inner_text() and goal.locator(".thermo").count() == 1
    page.reload()
    page.wait_for_selector("[data-goal='Publish case studies']")
    stored = _api(server, "/api/goals", {})["items"]
    assert [g["progress"] for g in stored if g["name"] == "Publish case studies"] == [25.0]


def _options(page: Any, selector: str) -> Any:
    """The ECharts options of every chart matched, by element id (functions left out)."""
    page.wait_for_function(
        f"() => [...document.querySelectorAll({selector!r})].every((c) => c.dataset.ready)"
    )
    return page.evaluate(
        f"""() => Object.fromEntries([...document.querySelectorAll({selector!r})].map((c) => {{
            const o = echarts.getInstanceByDom(c).getOption();
            return [c.id, JSON.parse(JSON.stringify(o))];
        }}))"""
    )


def test_money_carries_the_currency_and_percent_changes_are_points(
    page: Any, server: dict[str, Any]
) -> None:
    _open(page, server, "/overview?from=2026-01&to=2026-09")
    for name in ("mrr", "arr", "arpa"):
        assert page.inner_text(f".card[data-metric={name}] .value").startswith("$"), name
    nrr = page.inner_text(".card[data-metric=nrr] .change")
    assert re.fullmatch(r"[+−±]\d+\.\d pp vs Aug 2026", nrr), nrr
    assert page.inner_text(".card[data-metric=mrr] .label").endswith("Sep 2026")
    _open(page, server, "/revenue?from=2026-01&to=2026-09")
    option = _options(page, "#chart-mrr")["chart-mrr"]
    assert option["yAxis"][0]["name"] == "MRR (USD)"
    label = page.evaluate(
        "() => { const o = echarts.getInstanceByDom(document.getElementById('chart-mrr'))"
        ".getOption(); return o.yAxis[0].axisLabel.formatter(12000); }"
    )
    assert label == "$12K"


def test_every_chart_has_axis_titles_and_scales_that_fit(page: Any, server: dict[str, Any]) -> None:
    charts: dict[str, Any] = {}
    for slug in ("revenue", "retention", "voice", "support"):
        _open(page, server, f"/{slug}?from=2026-01&to=2026-09&by=plan")
        charts.update(_options(page, ".panel .chart"))
    assert len(charts) >= 12
    for chart_id, option in charts.items():
        for axis in option["xAxis"] + option["yAxis"]:
            assert axis.get("name"), (chart_id, axis)
    times = charts["chart-times"]  # medians and the p90 on their own axes
    assert [a["name"] for a in times["yAxis"]] == ["Median (hours)", "p90 (hours)"]
    assert [s.get("yAxisIndex", 0) for s in times["series"]] == [0, 0, 1]
    nps = charts["chart-nps"]["series"][0]  # quarterly answers: joined, with a marker each
    assert nps["connectNulls"] and nps["showSymbol"]
    # The segment picker: applied (MRR by plan) or visibly not, with the reason in a title.
    assert page.get_attribute("[data-panel=times]", "data-segment") == "ignored"
    assert page.locator("[data-panel=times] .unsplit").get_attribute("title")
    _open(page, server, "/revenue?from=2026-01&to=2026-09&by=plan")
    assert page.get_attribute("[data-panel=mrr]", "data-segment") == "applied"
    assert page.locator("[data-panel=mrr] .unsplit").count() == 0


def test_the_cohort_heat_map_diverges_and_shows_values_over_100(
    page: Any, server: dict[str, Any]
) -> None:
    _open(page, server, "/retention?from=2026-01&to=2026-09")
    option = _options(page, "#chart-cohorts-revenue")["chart-cohorts-revenue"]
    largest = max(v[2] for v in option["series"][0]["data"] if v[2] is not None)
    scale = option["visualMap"][0]
    assert largest > 100 and scale["max"] >= largest and scale["min"] == 0

    def rgb(hex_colour: str) -> tuple[int, ...]:
        return tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))

    colours = [rgb(c) for c in scale["inRange"]["color"]]
    low, high = colours[0], colours[-1]
    assert low[0] > low[2] + 80  # bad is warm
    assert high[2] > high[0] + 50 and high[1] > high[0] + 50  # good is blue-green
    assert any(min(c) > 230 for c in colours)  # through a pale middle: diverging


def test_the_current_period_is_labelled_partial(page: Any, server: dict[str, Any]) -> None:
    today = dt.date.today()
    quarter = f"Q{(today.month - 1) // 3 + 1} {today.year}"
    _open(page, server, f"/revenue?from={today.year - 1}-01&to={today:%Y-%m}&grain=quarter")
    assert page.get_attribute("[data-panel=mrr]", "data-partial") == quarter
    assert page.inner_text("[data-panel=mrr] h2 .partial") == f"{quarter} partial"
    labels = page.evaluate(
        "() => { const a = echarts.getInstanceByDom(document.getElementById('chart-mrr'))"
        ".getOption().xAxis[0]; return a.data.map((p) => a.axisLabel.formatter(p)); }"
    )
    assert labels[-1] == f"{quarter} (partial)" and labels[0] == f"Q1 {today.year - 1}"
    assert not any("partial" in label for label in labels[:-1])


def test_a_segment_goal_is_created_edited_and_deleted_in_the_ui(
    page: Any, server: dict[str, Any]
) -> None:
    last = (dt.date.today().replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    rows = _api(
        server, "/api/metrics", {"names": "nrr", "by": "plan", "from": str(last), "to": str(last)}
    )
    plan = next(str(r["plan"]) for r in rows["items"] if r["value"] is not None)
    _open(page, server, "/goals")
    form = page.locator("#new-goal")
    assert form.locator("[data-group=metric]").is_hidden()  # a number goal by default
    form.locator("input[name=name]").fill("NRR of one plan")
    form.locator("select[name=kind]").select_option("metric")
    form.locator("select[name=metric]").select_option("nrr")
    assert "in %" in page.inner_text("#goal-unit")
    form.locator("select[name=segment_by]").select_option("plan")
    form.locator("input[name=segment_value]").fill(plan)
    form.locator("input[name=start_value]").fill("90")
    form.locator("input[name=target_value]").fill("110")
    form.locator("input[name=due_date]").fill("2099-12-31")
    form.locator("button[type=submit]").click()
    goal = page.locator("[data-goal='NRR of one plan']")
    goal.wait_for()
    assert (
        f"for plan = {plan}" in goal.inner_text()
        and "% now, from 90.0% to 110.0%" in goal.inner_text()
    )
    history = goal.locator(".goal-history")
    page.wait_for_function(
        "() => document.querySelector(\"[data-goal='NRR of one plan'] .goal-history\")"
        "?.dataset.rendered"
    )
    axes = page.evaluate(
        "() => { const o = echarts.getInstanceByDom(document.querySelector("
        "\"[data-goal='NRR of one plan'] .goal-history\")).getOption();"
        " return [o.xAxis[0].name, o.yAxis[0].name, o.series[0].data.length]; }"
    )
    assert axes[:2] == ["Period (month)", "nrr (%)"] and axes[2] >= 1 and history.count() == 1

    goal.locator("button[data-action=edit]").click()
    assert page.inner_text("#new-goal h2") == 'Edit "NRR of one plan"'
    assert form.locator("input[name=segment_value]").input_value() == plan
    form.locator("input[name=name]").fill("NRR of one plan, stretch")
    form.locator("input[name=target_value]").fill("120")
    form.locator("button[type=submit]").click()
    edited = page.locator("[data-goal='NRR of one plan, stretch']")
    edited.wait_for()
    assert "to 120.0%" in edited.inner_text() and goal.count() == 0
    stored = [g for g in _api(server, "/api/goals", {})["items"] if g["name"].startswith("NRR of")]
    assert [(g["target_value"], g["segment_value"], g["unit"]) for g in stored] == [
        (120, plan, "percent")
    ]

    page.once("dialog", lambda dialog: dialog.accept())
    edited.locator("button[data-action=delete]").click()
    edited.wait_for(state="detached")
    assert not [
        g for g in _api(server, "/api/goals", {})["items"] if g["name"].startswith("NRR of")
    ]


def test_charts_export_png_and_tables_export_csv(
    page: Any, server: dict[str, Any], tmp_path: Path
) -> None:
    _open(page, server, "/revenue?from=2026-01&to=2026-09")
    with page.expect_download() as png:
        page.click("[data-panel=mrr] button[data-export=png]")
    path = tmp_path / "mrr.png"
    png.value.save_as(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 1000
    _open(page, server, "/accounts")
    with page.expect_download() as csv:
        page.click("[data-panel=accounts] button[data-export=csv]")
    text = Path(csv.value.path()).read_text(encoding="utf-8")
    assert (
        text.splitlines()[0].startswith('"account_id","name","owner","paid_plan","arr"')
        and len(text.splitlines()) == 51  # the page shown
    )


def test_the_engagement_page_draws_lifecycle_and_a_retention_triangle(
    page: Any, server: dict[str, Any]
) -> None:
    _open(page, server, "/engagement?from=2026-01&to=2026-09")
    page.wait_for_selector("#chart-lifecycle[data-rendered]", timeout=60_000)
    shown = page.evaluate(
        "() => echarts.getInstanceByDom(document.getElementById('chart-lifecycle'))"
        ".getOption().series.map((s) => [s.name, s.stack, s.data])"
    )
    names = [f"lifecycle_{s}" for s in ("new", "returning", "resurrecting", "dormant")]
    api = pd.DataFrame(
        _api(server, "/api/metrics", {"names": names, "from": "2026-01-01", "to": "2026-09-01"})[
            "items"
        ]
    )
    assert [name for name, _, _ in shown] == ["New", "Returning", "Resurrecting", "Dormant"]
    assert {stack for _, stack, _ in shown} == {"lifecycle"}
    for (_, _, data), name in zip(shown, names, strict=True):
        assert data == [float(v) for v in api[api.metric == name].sort_values("period_start").value]
    dormant = shown[3][2]
    assert len(dormant) == 9 and all(v <= 0 for v in dormant) and min(dormant) < 0
    page.wait_for_selector("#chart-account-lifecycle[data-rendered]")
    triangle = _api(
        server,
        "/api/engagement/retention",
        {"grain": "month", "periods": 6, "from": "2026-01-01", "to": "2026-09-01"},
    )["items"]
    rows = page.locator("#table-retention-triangle tbody tr")
    assert rows.count() == len({r["cohort_start"] for r in triangle}) == 9
    last = rows.last.locator("td").all_inner_texts()
    assert last[0] == "2026-09-01" and last[3:] == ["", "", "", "", "", ""]  # the triangle


def test_a_script_in_a_comment_renders_as_text(page: Any, server: dict[str, Any]) -> None:
    _open(page, server, "/voice?from=2026-09&to=2026-09")
    cells = page.locator("#table-comments td", has_text="slow reports")
    assert cells.count() == 1 and cells.first.inner_text() == XSS
    assert page.evaluate("window.__tenure_xss") is None
    assert page.locator("#table-comments script, #table-comments img").count() == 0


def test_detractor_drivers_show_their_comments_as_text(page: Any, server: dict[str, Any]) -> None:
    _open(page, server, "/voice?from=2026-01&to=2026-09")
    window = {"from": "2026-01-01", "to": "2026-09-01", "limit": 15}
    expected = _api(server, "/api/feedback/drivers", window)
    rows = page.locator("#table-drivers tbody tr")
    assert rows.count() == len(expected["items"]) > 0
    first = rows.first.locator("td").all_inner_texts()
    assert first[0] == expected["items"][0]["term"]
    assert first[2] == f"{expected['items'][0]['z']:.2f}"
    top = expected["items"][0]
    rows.first.locator("summary").click()
    items = rows.first.locator("li")
    assert items.count() == len(top["comment_ids"])
    comments = _api(
        server, "/api/feedback", {"from": "2026-01-01", "to": "2026-09-01", "limit": 1000}
    )
    text = {c["response_id"]: f"{c['score']:g} · {c['comment']}" for c in comments["items"]}
    shown = items.first
    assert shown.inner_text() == text.get(top["comment_ids"][0], top["comment_ids"][0])
    assert page.locator("#table-drivers script, #table-drivers img").count() == 0


def test_response_rates_show_by_the_segment_picked(page: Any, server: dict[str, Any]) -> None:
    headers = {"Authorization": f"Bearer {server['key']}"}
    survey = httpx.post(
        server["base"] + "/api/surveys",
        headers=headers,
        json={"name": "Renewal <i>CSAT</i>", "kind": "csat", "question": "Happy?"},
    ).json()
    for account in ("A000001", "A000002", "A000003"):
        httpx.post(
            server["base"] + f"/api/surveys/{survey['id']}/invitations",
            headers=headers,
            json={"account_id": account},
        ).raise_for_status()
    today = dt.date.today().strftime("%Y-%m")
    _open(page, server, f"/voice?from={today}&to={today}&by=plan")
    expected = _api(server, "/api/surveys/response-rates", {"by": "plan"})
    rows = page.locator("#table-response-rates tbody tr")
    assert rows.count() == len(expected) > 0
    header = page.locator("#table-response-rates th").all_inner_texts()
    assert header[:4] == ["name", "touchpoint", "channel", "plan"]
    first = rows.first.locator("td").all_inner_texts()
    assert first[0] == "Renewal <i>CSAT</i>" and first[3] == expected[0]["plan"]
    assert sum(int(r.locator("td").nth(4).inner_text()) for r in rows.all()) == 3


def test_a_widget_added_to_my_dashboard_persists_after_reload(
    page: Any, server: dict[str, Any]
) -> None:
    _open(page, server, "/dashboard?from=2026-01&to=2026-09")
    for metric, kind in (("mrr", "line"), ("nps", "number")):
        page.select_option("#add-widget select[name=metric]", metric)
        page.select_option("#add-widget select[name=type]", kind)
        page.click("#add-widget button[type=submit]")
        page.wait_for_selector(f"[data-widget='{metric}:{kind}']")
    page.reload()
    page.wait_for_selector("#page[data-loaded]")
    page.wait_for_selector("[data-widget='nps:number']")
    order = page.eval_on_selector_all("[data-widget]", "nodes => nodes.map(n => n.dataset.widget)")
    assert order == ["mrr:line", "nps:number"]
    page.click("[data-widget='nps:number'] button[data-action=up]")
    page.wait_for_function(
        "() => document.querySelector('[data-widget]').dataset.widget === 'nps:number'"
    )
    page.reload()
    page.wait_for_selector("[data-widget='mrr:line']")
    order = page.eval_on_selector_all("[data-widget]", "nodes => nodes.map(n => n.dataset.widget)")
    assert order == ["nps:number", "mrr:line"]
    page.click("[data-widget='mrr:line'] button[data-action=remove]")
    page.wait_for_function("() => document.querySelectorAll('[data-widget]').length === 1")
    saved = httpx.get(
        server["base"] + "/api/dashboard", headers={"Authorization": f"Bearer {server['key']}"}
    ).json()
    assert saved == {"widgets": [{"metric": "nps", "type": "number", "by": None}]}
    page.screenshot(path=str(SHOTS / "dashboard.png"), full_page=True)


# -- the accounts worklist ------------------------------------------------------------------------
def _shown(page: Any) -> list[str]:
    ids: list[str] = page.eval_on_selector_all(
        "#table-accounts tbody tr", "rows => rows.map(r => r.dataset.account)"
    )
    return ids


def _wait_for(page: Any, **state: str) -> None:
    """Wait until the worklist's table says it shows this state (its data- attributes)."""
    checks = " && ".join(f"t.dataset.{key} === {value!r}" for key, value in state.items())
    page.wait_for_function(
        f"() => {{ const t = document.querySelector('#table-accounts'); return !!t && {checks}; }}"
    )


def _worklist(server: dict[str, Any], **params: Any) -> dict[str, Any]:
    """The API's page for the worklist, which leaves out accounts already cancelling (they have
    their own section) unless `cancelling="true"` asks for them."""
    body: dict[str, Any] = _api(
        server, "/api/accounts", {"limit": 50, "cancelling": "false", **params}
    )
    return body


def test_the_worklist_shows_the_snapshot_columns_and_freshness(
    page: Any, server: dict[str, Any]
) -> None:
    _open(page, server, "/accounts")
    expected = _worklist(server)
    headers = page.locator("#table-accounts th").all_inner_texts()
    assert [h.rstrip(" ▲▼") for h in headers] == [
        "Account",
        "Owner",
        "Plan",
        f"ARR ({expected['reporting_currency']})",
        "Next renewal",
        "Health",
        "Churn risk",
        "Drivers",
        "Last activity",
        "Open tickets",
        "Last NPS",
    ]
    assert _shown(page) == [r["account_id"] for r in expected["items"]]
    assert page.inner_text(".pager .range") == f"1–50 of {expected['total']:,}"
    assert expected["total"] + _worklist(server, cancelling="true")["total"] == 300
    freshness = page.inner_text("#freshness")
    assert freshness.startswith("snapshot of ") and "refreshed after the last load" in freshness
    first = expected["items"][0]
    cells = page.locator("#table-accounts tbody tr").first.locator("td").all_inner_texts()
    assert cells[0] == first["name"] and cells[1] == (first["owner"] or "–")
    assert cells[3].endswith(" " + expected["reporting_currency"])
    assert cells[5].split()[0] == f"{first['health']:.0f}" and first["band"] in cells[5]
    for driver in first["health_drivers"][:3]:
        assert driver in cells[7]
    xss = page.locator("#table-accounts tr[data-account=A000001]")
    assert page.evaluate("window.__tenure_xss") is None and xss.locator("script").count() == 0


def test_search_band_and_cancelling_narrow_the_list(page: Any, server: dict[str, Any]) -> None:
    _open(page, server, "/accounts")
    name = _worklist(server, sort="account_id", order="asc")["items"][6]["name"]
    page.fill("#account-filters input[name=search]", name)
    page.press("#account-filters input[name=search]", "Enter")
    _wait_for(page, search=name)
    expected = _worklist(server, search=name)
    assert 1 <= expected["total"] < 300
    assert _shown(page) == [r["account_id"] for r in expected["items"]]
    assert f"of {expected['total']:,}" in page.inner_text(".pager .range")
    page.fill("#account-filters input[name=search]", "")
    page.select_option("#account-filters select[name=band]", "red")
    page.wait_for_function("() => location.search.includes('band=red')")
    _wait_for(page, search="")
    red = _worklist(server, band="red")
    page.wait_for_function(
        f"() => document.querySelector('#table-accounts').dataset.total === '{red['total']}'"
    )
    assert _shown(page) == [r["account_id"] for r in red["items"]]
    page.check("#account-filters input[name=cancelling]")
    page.wait_for_function("() => location.search.includes('cancelling=true')")
    leaving = _worklist(server, band="red", cancelling="true")
    page.wait_for_function(
        f"() => document.querySelector('#table-accounts').dataset.total === '{leaving['total']}'"
    )
    assert _shown(page) == [r["account_id"] for r in leaving["items"]]
    assert leaving["total"] < red["total"]


def test_clicking_a_header_sorts_and_again_flips(page: Any, server: dict[str, Any]) -> None:
    _open(page, server, "/accounts")
    page.click("#table-accounts th[data-sort=arr] button")
    _wait_for(page, sort="arr", order="desc")
    by_arr = _worklist(server, sort="arr", order="desc")["items"]
    assert _shown(page) == [r["account_id"] for r in by_arr]
    arr = [float(r["arr"]) for r in by_arr]
    assert arr == sorted(arr, reverse=True) and arr[0] > arr[-1]
    page.click("#table-accounts th[data-sort=arr] button")
    _wait_for(page, sort="arr", order="asc")
    assert _shown(page) == [
        r["account_id"] for r in _worklist(server, sort="arr", order="asc")["items"]
    ]
    assert page.get_attribute("#table-accounts th[data-sort=arr]", "aria-sort") == "ascending"
    page.click("#table-accounts th[data-sort=name] button")
    _wait_for(page, sort="name", order="asc")
    assert _shown(page) == [
        r["account_id"] for r in _worklist(server, sort="name", order="asc")["items"]
    ]
    page.reload()  # the order is kept in the address
    _wait_for(page, sort="name", order="asc")


def test_next_page_shows_the_next_rows(page: Any, server: dict[str, Any]) -> None:
    _open(page, server, "/accounts")
    assert page.is_disabled(".pager button[data-page=previous]")
    first = _shown(page)
    page.click(".pager button[data-page=next]")
    _wait_for(page, offset="50")
    expected = _worklist(server, offset=50)["items"]
    assert _shown(page) == [r["account_id"] for r in expected] and not set(first) & set(
        _shown(page)
    )
    assert page.inner_text(".pager .range") == f"51–100 of {_worklist(server)['total']:,}"
    page.click(".pager button[data-page=previous]")
    _wait_for(page, offset="0")
    assert _shown(page) == first


def test_the_account_link_opens_the_account_page(page: Any, server: dict[str, Any]) -> None:
    _open(page, server, "/accounts")
    row = _worklist(server)["items"][0]
    page.click(f"#table-accounts tr[data-account={row['account_id']}] a.account-link")
    page.wait_for_url(f"**/accounts/{row['account_id']}")
    page.wait_for_selector("#page[data-loaded]")
    assert page.inner_text("main h1") == row["name"]
    facts = page.inner_text("[data-panel=account] .facts")
    assert row["account_id"] in facts and (row["paid_plan"] or "not paying") in facts
    components = page.locator("#table-health tbody tr")
    assert components.count() == 8
    assert page.locator("[data-panel=account-mrr] .chart").count() == 1  # the timeline follows


def _post(server: dict[str, Any], path: str, body: dict[str, Any] | None = None) -> Any:
    response = httpx.post(
        server["base"] + path,
        json=body or {},
        headers={"Authorization": f"Bearer {server['key']}"},
        timeout=60,
    )
    response.raise_for_status()
    return response.json()


def test_a_rule_built_in_the_form_is_previewed_then_started_from_now_on(
    page: Any, server: dict[str, Any]
) -> None:
    _open(page, server, "/automations")
    page.fill("#rule-form input[name=name]", "Ticket waiting 48 hours")
    page.select_option("#rule-form select[name=trigger_type]", "state_duration")
    page.fill("#rule-form input[name=t_hours]", "48")
    page.select_option("#rule-form select[name=action_kind]", "task")
    page.fill("#rule-form input[name=a_title]", "Answer {{ ticket_id }}")
    page.click("#preview-rule")
    page.wait_for_selector("#preview-result")
    (rule,) = [r for r in _api(server, "/api/automations", {}) if r["name"].startswith("Ticket")]
    assert rule["enabled"] is False  # saved for the preview, not started
    assert rule["trigger"] == {"type": "state_duration", "hours": 48.0, "status": "open"}
    expected = _post(server, f"/api/automations/{rule['id']}/dry-run")["fired"]
    assert expected, "the demo has tickets open for more than 48 hours"
    shown = page.inner_text("#preview-result")
    assert page.get_attribute("#preview-result", "data-count") == str(len(expected))
    assert shown.startswith(f"Would fire {len(expected)} today")
    assert expected[0]["subject"] in shown
    assert "null" not in page.inner_text("#preview")
    page.screenshot(path=str(SHOTS / "automations-preview.png"), full_page=True)
    assert page.is_checked("#start-form input[value=now]")  # "from now on" is the default
    page.click("#start-rule")
    page.wait_for_selector("#started")
    row = page.locator(f"#table-rules tr[data-rule='{rule['id']}']")
    assert row.get_attribute("data-enabled") == "true"
    assert "a ticket open for more than 48 hours" in row.inner_text()
    assert 'task "Answer {{ ticket_id }}"' in row.inner_text()
    # From now on: the tickets already waiting were recorded as seen; a run sends none of them.
    ran = _post(server, "/api/automations/run")
    assert [f for f in ran["fired"] if f["rule_id"] == rule["id"]] == []
    assert _api(server, f"/api/automations/{rule['id']}/firings", {}) == []
    row.locator("[data-action=firings]").click()
    page.wait_for_selector("#rule-detail >> text=No firings yet.")
    page.screenshot(path=str(SHOTS / "automations.png"), full_page=True)


def test_the_trigger_picker_shows_the_fields_of_its_type(page: Any, server: dict[str, Any]) -> None:
    _open(page, server, "/automations")
    page.select_option("#rule-form select[name=trigger_type]", "metric")
    metrics = page.locator("#rule-form select[name=t_metric] option").all_inner_texts()
    assert "nrr (percent)" in metrics
    assert page.locator("#rule-form input[name=t_hours]").count() == 0
    page.select_option("#rule-form select[name=action_kind]", "email")
    for name in ("a_to", "a_subject"):
        assert page.locator(f"#rule-form input[name={name}]").count() == 1


def test_a_survey_created_in_the_ui_sends_an_invitation_link(
    page: Any, server: dict[str, Any]
) -> None:
    _open(page, server, "/surveys")
    page.fill("#survey-form input[name=name]", "Support CSAT")
    page.select_option("#survey-form select[name=kind]", "csat")
    page.fill("#survey-form input[name=touchpoint]", "support")
    page.click("#survey-form button[type=submit]")
    (made,) = [s for s in _api(server, "/api/surveys", {}) if s["name"] == "Support CSAT"]
    page.wait_for_selector(f"#table-surveys tr[data-survey='{made['id']}']")
    assert (made["kind"], made["scale_min"], made["scale_max"]) == ("csat", 1, 5)
    assert page.input_value("#invite-form select[name=survey]") == str(made["id"])
    page.fill("#invite-form input[name=account_id]", "A000001")
    page.click("#invite-form button[type=submit]")
    link = page.locator("#invitation-link")
    link.wait_for()
    href = link.get_attribute("href")
    assert href.startswith(server["base"] + "/s/") and link.get_attribute("target") == "_blank"
    row = page.locator("#table-response-rates tr", has_text="Support CSAT")
    row.wait_for()
    assert "1" in row.inner_text().split()
    page.screenshot(path=str(SHOTS / "surveys.png"), full_page=True)
    form = httpx.get(href, timeout=30)
    assert form.status_code == 200 and "How satisfied are you" in form.text


def test_the_api_docs_render_offline_under_the_strict_policy(
    page: Any, server: dict[str, Any]
) -> None:
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.goto(server["base"] + "/docs")
    page.wait_for_selector(".opblock-summary", timeout=60_000)
    assert page.locator(".opblock").count() > 20
    assert "/api/automations" in page.inner_text("#swagger-ui")
    outside = [
        u for u in requested if not u.startswith(server["base"]) and not u.startswith("data:")
    ]
    assert outside == []


# -- drill-through, comments, the cancelling section, saved views, a phone ---------------------------
def _drilled(page: Any) -> None:
    page.wait_for_function(
        "() => document.getElementById('drill').dataset.loaded === '1'", timeout=90_000
    )


def test_a_kpi_tile_and_a_movement_bar_open_the_accounts_behind_them(
    page: Any, server: dict[str, Any]
) -> None:
    _open(page, server, "/overview?from=2026-01&to=2026-09")
    page.click("#kpis .card[data-metric=customer_churn_rate]")
    _drilled(page)
    metric = _api(
        server,
        "/api/metrics",
        {"names": "customer_churn_rate", "from": "2026-09-01", "to": "2026-09-01"},
    )["items"][0]
    assert page.inner_text("#drill-numerator") == f"{metric['numerator']:,}"
    assert page.inner_text("#drill-denominator") == f"{metric['denominator']:,}"
    assert page.locator("#table-drill tbody tr").count() == metric["denominator"]
    with page.expect_download() as csv:
        page.click("#drill a[data-export=drill-csv]")
    lines = Path(csv.value.path()).read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("account_id,name") and len(lines) == metric["denominator"] + 1
    page.keyboard.press("Escape")
    assert page.is_hidden("#drill")

    _open(page, server, "/revenue?from=2026-01&to=2026-09")
    page.wait_for_selector("#chart-movements[data-rendered]")
    x, y = page.evaluate(
        "() => { const c = echarts.getInstanceByDom(document.getElementById('chart-movements'));"
        " const s = c.getOption().series[0]; const p = s.data[s.data.length - 1];"
        " return c.convertToPixel({ seriesIndex: 0 }, [p[0], p[1] / 2]); }"
    )
    box = page.locator("#chart-movements").bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)
    _drilled(page)
    assert page.inner_text("#drill-title") == "mrr_new · 2026-09-01"
    expected = _api(server, "/api/drill/mrr_new", {"period": "2026-09"})
    assert page.locator("#table-drill tbody tr").count() == len(expected) > 0


def _click_bar(page: Any, chart: str, series: int, index: int) -> None:
    """Click the middle of one bar (or, on a line, of the step after one point)."""
    page.locator("#" + chart).scroll_into_view_if_needed()
    x, y = page.evaluate(
        f"""() => {{ const c = echarts.getInstanceByDom(document.getElementById({chart!r}));
        const data = c.getOption().series[{series}].data; const p = data[{index}];
        if (Array.isArray(p)) return c.convertToPixel({{ seriesIndex: {series} }},
            [(p[0] + data[{index} + 1][0]) / 2, p[1]]);
        const bar = c.getModel().getSeriesByIndex({series}).getData().getItemLayout({index});
        return [bar.x + bar.width / 2, bar.y + bar.height / 2]; }}"""
    )
    box = page.locator("#" + chart).bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)
    _drilled(page)


def _series(page: Any, chart: str) -> Any:
    return page.evaluate(
        f"() => echarts.getInstanceByDom(document.getElementById({chart!r})).getOption()"
        ".series.map((s) => [s.name, s.data.map((d) => d !== null && typeof d === 'object'"
        " && !Array.isArray(d) ? d.value : d)])"
    )


def test_adoption_funnel_survival_and_health_open_what_is_behind_them_by_segment(
    page: Any, server: dict[str, Any]
) -> None:
    _open(page, server, "/engagement?from=2026-01&to=2026-09&by=plan")
    # The segment picker: applied where the API splits, visibly not where it cannot.
    for panel in ("stickiness", "active", "funnel", "adoption"):
        assert page.get_attribute(f"[data-panel={panel}]", "data-segment") == "applied", panel
    for panel in ("lifecycle", "retention-triangle"):
        assert page.get_attribute(f"[data-panel={panel}]", "data-segment") == "ignored", panel
        assert (
            page.locator(f"[data-panel={panel}] .unsplit").inner_text()
            == "all accounts: not split by plan"
        )
    # A feature's bar in one plan: that plan's adopters of the feature, with the ratio's parts.
    bars = _series(page, "chart-adoption")
    plan, values = bars[0]
    index = max(range(len(values)), key=lambda i: values[i] or 0)
    feature = page.evaluate(
        "() => echarts.getInstanceByDom(document.getElementById('chart-adoption'))"
        f".getOption().xAxis[0].data[{index}]"
    )
    _click_bar(page, "chart-adoption", 0, index)
    where = f"plan = '{plan}'"
    expected = _api(
        server,
        "/api/drill/feature_adoption_rate/page",
        {"period": "2026-09", "where": where, "dimension": "feature", "value": feature},
    )
    assert expected["value"] == pytest.approx(values[index])
    assert page.inner_text("#drill-title") == f"Adopters of {feature} (plan {plan}) · 2026-09"
    assert page.inner_text("#drill-numerator") == f"{expected['numerator']:,}"
    assert page.inner_text("#drill-denominator") == f"{expected['denominator']:,}"
    assert page.locator("#table-drill tbody tr").count() == expected["total"] > 0
    with page.expect_download() as csv:
        page.click("#drill a[data-export=drill-csv]")
    lines = Path(csv.value.path()).read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("account_id,name") and len(lines) == expected["total"] + 1
    page.keyboard.press("Escape")
    # A funnel step: the people of that plan who reached it; the paler bar, those who dropped.
    funnel = dict(_series(page, "chart-funnel"))
    reached = funnel[f"{plan} · reached"]
    _click_bar(page, "chart-funnel", 0, 1)
    assert page.inner_text("#drill-count").endswith(f"of {reached[1]} people")
    assert page.inner_text("#drill-denominator") == f"{reached[0]:,}"
    page.keyboard.press("Escape")

    _open(page, server, "/retention?from=2026-01&to=2026-09&by=plan")
    assert page.get_attribute("[data-panel=survival]", "data-segment") == "applied"
    assert page.get_attribute("[data-panel=score-health]", "data-segment") == "ignored"
    # A point of one plan's survival curve: the accounts of that plan at risk there.
    curves = _series(page, "chart-survival")
    plan = curves[0][0]
    _click_bar(page, "chart-survival", 0, 2)
    curve = _api(server, "/api/survival", {"where": f"plan = '{plan}'"})["curve"]
    assert page.inner_text("#drill-denominator") == f"{curve[2]['at_risk']:,}"
    assert page.inner_text("#drill-numerator") == f"{curve[2]['events']:,}"
    assert page.locator("#table-drill tbody tr").count() == curve[2]["at_risk"]
    page.keyboard.press("Escape")
    # A health band: its accounts, of all scored accounts.
    bands = dict(
        zip(["red", "yellow", "green"], _series(page, "chart-score-health")[0][1], strict=True)
    )
    band = max(bands, key=lambda b: bands[b])
    _click_bar(page, "chart-score-health", 0, list(bands).index(band))
    assert page.inner_text("#drill-title") == f"Health band {band}"
    assert page.locator("#table-drill tbody tr").count() == bands[band] > 0
    assert page.inner_text("#drill-denominator") == f"{sum(bands.values()):,}"
    assert set(page.locator("#table-drill tbody tr td:nth-child(7)").all_inner_texts()) == {band}


def test_a_theme_opens_its_comments_and_a_band_narrows_them(
    page: Any, server: dict[str, Any]
) -> None:
    _open(page, server, "/voice?from=2026-01&to=2026-09")
    window = {"from": "2026-01-01", "to": "2026-09-01", "limit": 1}
    theme = page.get_attribute("#table-themes button[data-theme]", "data-theme")
    page.click(f"#table-themes button[data-theme='{theme}']")
    page.wait_for_function(
        f"() => document.querySelector('#table-comments').dataset.filters.includes('theme={theme}')"
    )
    themed = _api(server, "/api/feedback", {**window, "theme": theme})["total"]
    assert page.get_attribute("#table-comments", "data-total") == str(themed)
    assert all(
        theme in t for t in page.locator("#table-comments td:nth-child(8)").all_inner_texts()
    )
    page.select_option("#comment-filters select[name=band]", "detractor")
    page.wait_for_function(
        "() => document.querySelector('#table-comments').dataset.filters.includes('band=detractor')"
    )
    narrowed = _api(server, "/api/feedback", {**window, "theme": theme, "band": "detractor"})
    assert page.get_attribute("#table-comments", "data-total") == str(narrowed["total"])
    assert 0 < narrowed["total"] < themed
    bands = page.eval_on_selector_all(
        "#table-comments tbody tr", "rows => rows.map(r => r.dataset.band)"
    )
    assert set(bands) == {"detractor"}


def test_accounts_already_cancelling_have_their_own_section(
    page: Any, server: dict[str, Any]
) -> None:
    _open(page, server, "/accounts")
    page.wait_for_selector("#table-cancelling")
    leaving = _worklist(
        server, cancelling="true", sort="scheduled_churn_on", order="asc", limit=100
    )
    shown = page.eval_on_selector_all(
        "#table-cancelling tbody tr", "rows => rows.map(r => r.dataset.account)"
    )
    assert shown == [r["account_id"] for r in leaving["items"]] and shown
    assert not set(shown) & set(_shown(page))
    assert page.locator("#table-cancelling .churning").count() == len(shown)


def test_a_saved_view_round_trips(page: Any, server: dict[str, Any]) -> None:
    _open(page, server, "/accounts")
    page.select_option("#account-filters select[name=band]", "yellow")
    page.wait_for_function("() => location.search.includes('band=yellow')")
    page.click("#table-accounts th[data-sort=arr] button")
    _wait_for(page, sort="arr", order="desc")
    page.fill("#saved-views input[name=view_name]", "Yellow by ARR")
    page.click("#saved-views button[type=submit]")
    page.wait_for_function(
        "() => document.querySelector('#saved-views select').selectedOptions[0]?.text === 'Yellow by ARR'"
    )
    _open(page, server, "/accounts")  # a fresh list: default band and sort
    _wait_for(page, sort="churn_probability")
    page.select_option("#saved-views select[name=view]", label="Yellow by ARR")
    _wait_for(page, sort="arr", order="desc")
    assert page.input_value("#account-filters select[name=band]") == "yellow"
    expected = _worklist(server, band="yellow", sort="arr", order="desc")
    page.wait_for_function(
        f"() => document.querySelector('#table-accounts').dataset.total === '{expected['total']}'"
    )
    assert _shown(page) == [r["account_id"] for r in expected["items"]]


def test_no_page_scrolls_sideways_on_a_phone(page: Any, server: dict[str, Any]) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    for slug in (*(slug for slug, _ in PAGES), "accounts/A000001"):
        _open(page, server, f"/{slug}?from=2026-01&to=2026-09")
        page.wait_for_load_state("networkidle")
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 390, (slug, width)
    assert page.is_hidden("header nav") and page.is_visible("#menu")
    page.click("#menu")
    assert page.is_visible("header nav")


def _watch(page: Any) -> list[str]:
    """Console errors and failed API answers from now on (none may reach the user)."""
    problems: list[str] = []
    page.on("console", lambda m: m.type == "error" and problems.append(m.text))
    page.on(
        "response",
        lambda r: r.status >= 400 and "/api/" in r.url and problems.append(f"{r.status} {r.url}"),
    )
    return problems


def test_the_paid_plan_segment_splits_revenue_and_notes_the_rest(
    page: Any, server: dict[str, Any]
) -> None:
    problems = _watch(page)
    _open(page, server, "/revenue?from=2026-01&to=2026-09")
    page.select_option("select[name=by]", label="Paid plan (billing)")
    page.click("#pickers button[type=submit]")
    page.wait_for_url("**by=paid_plan**")
    page.wait_for_selector("#page[data-loaded]", timeout=60_000)
    assert page.get_attribute("#page", "data-loaded") == "1", page.inner_text("#error")
    assert page.get_attribute("[data-panel=mrr]", "data-segment") == "applied"
    window = {"names": "mrr", "from": "2026-01-01", "to": "2026-09-01", "by": "paid_plan"}
    expected = _api(server, "/api/metrics", window)["items"]
    plans = {str(r["paid_plan"]) for r in expected}
    lines = dict(_series(page, "chart-mrr"))
    assert set(lines) == plans and len(plans) > 1
    assert page.inner_text("[data-panel=movements] .unsplit") == (
        "all accounts: not split by Paid plan (billing)"
    )
    # A point of one plan's line opens that plan's paying accounts.
    plan = max(
        plans, key=lambda p: sum(float(r["value"]) for r in expected if str(r["paid_plan"]) == p)
    )
    last = next(
        r
        for r in reversed(expected)
        if str(r["paid_plan"]) == plan and r["period_start"] >= "2026-09"
    )
    page.locator("#chart-mrr").scroll_into_view_if_needed()
    x, y = page.evaluate(
        "() => { const c = echarts.getInstanceByDom(document.getElementById('chart-mrr'));"
        f" const s = c.getOption().series.find((s) => s.name === {plan!r});"
        " const p = s.data[s.data.length - 1]; return c.convertToPixel({ seriesIndex: 0 }, p); }"
    )
    box = page.locator("#chart-mrr").bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)
    _drilled(page)
    assert page.inner_text("#drill-title") == f"mrr (Paid plan (billing) {plan}) · 2026-09-01"
    drill = _api(
        server,
        "/api/drill/mrr/page",
        {"period": "2026-09", "dimension": "paid_plan", "value": plan, "limit": 1000},
    )
    assert float(drill["value"]) == pytest.approx(float(last["value"]))
    assert page.locator("#table-drill tbody tr").count() == drill["total"] > 0
    page.keyboard.press("Escape")
    # Usage and voice metrics cannot be split by it: drawn for all accounts, with the note.
    _open(page, server, "/engagement?from=2026-01&to=2026-09&by=paid_plan")
    for panel in ("active", "stickiness", "funnel", "adoption"):
        assert page.get_attribute(f"[data-panel={panel}]", "data-segment") == "ignored", panel
        assert page.inner_text(f"[data-panel={panel}] .unsplit") == (
            "all accounts: not split by Paid plan (billing)"
        )
    _open(page, server, "/retention?from=2026-01&to=2026-09&by=paid_plan")
    assert page.get_attribute("[data-panel=churn]", "data-segment") == "applied"
    assert page.get_attribute("[data-panel=survival]", "data-segment") == "ignored"
    for slug, panel in (("voice", "nps"), ("voice", "distribution-nps"), ("support", "fcr")):
        _open(page, server, f"/{slug}?from=2026-01&to=2026-09&by=paid_plan")
        assert page.get_attribute(f"[data-panel={panel}]", "data-segment") == "ignored", panel
    assert page.is_hidden("#error")
    assert problems == [], problems


def test_an_nps_score_bar_opens_its_answers_with_comments_as_text(
    page: Any, server: dict[str, Any]
) -> None:
    _open(page, server, "/voice?from=2026-09&to=2026-09")
    window = {"survey": "nps", "from": "2026-09-01", "to": "2026-09-30"}
    bars = _api(server, "/api/surveys/distribution", window)
    assert page.get_attribute("[data-panel=distribution-nps]", "data-segment") == "applied"
    ((_, shown),) = _series(page, "chart-distribution-nps")
    assert shown == [b["answers"] for b in bars]
    index = next(i for i, b in enumerate(bars) if b["score"] == 2)  # holds the <script> comment
    _click_bar(page, "chart-distribution-nps", 0, index)
    assert page.inner_text("#drill-title") == "NPS score 2 · 2026-09-01 to 2026-09-30"
    assert page.inner_text("#drill-numerator") == f"{bars[index]['answers']:,}"
    assert page.inner_text("#drill-denominator") == f"{sum(b['answers'] for b in bars):,}"
    rows = page.locator("#table-drill tbody tr")
    assert rows.count() == bars[index]["answers"]
    header = page.locator("#table-drill th").all_inner_texts()
    assert header[:7] == [
        "account_id",
        "name",
        "respondent",
        "responded_at",
        "score",
        "comment",
        "language",
    ]
    cell = page.locator("#table-drill td", has_text="slow reports")
    assert cell.count() == 1 and cell.first.inner_text() == XSS
    assert page.locator("#drill script, #drill img").count() == 0
    assert page.evaluate("window.__tenure_xss") is None
    with page.expect_download() as csv:
        page.click("#drill a[data-export=drill-csv]")
    lines = Path(csv.value.path()).read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("account_id,name,respondent")
    page.keyboard.press("Escape")
    # With a segment picked, the bars split by it and the filter narrows them.
    _open(page, server, "/voice?from=2026-01&to=2026-09&by=plan&where=country%20%3D%20%27DE%27")
    assert page.get_attribute("[data-panel=distribution-nps]", "data-segment") == "applied"
    split = _api(
        server,
        "/api/surveys/distribution",
        {**window, "from": "2026-01-01", "by": "plan", "where": "country = 'DE'"},
    )
    series = dict(_series(page, "chart-distribution-nps"))
    assert set(series) == {str(b["plan"]) for b in split}
    assert sum(v or 0 for values in series.values() for v in values) == sum(
        b["answers"] for b in split
    )
