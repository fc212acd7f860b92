"""A CS lead's five daily jobs acted out in the dashboard (Playwright driving the system Chromium,
headless), each at desktop (1440x900) and phone (390x844) width: clicks and form fills only, the
way a person works, on a demo company served by a real uvicorn server.

1. Which accounts are at risk, and why; 2. last month's movements and who churned; 3. the NPS
trend and what detractors say; 4. an NRR goal for one segment; 5. the 48-hour ticket reminder,
previewed with a dry-run and started "from now on".

Every job fails on a console error, an uncaught page error, a Content-Security-Policy violation
or a request answered 4xx/5xx, saves screenshots under artifacts/screenshots/jobs/, and runs
axe-core (vendored under tests/vendor/axe-core, MPL-2.0, a test-only asset the app never serves)
on the page it ends on, failing on any violation of impact "serious" or "critical". axe is
injected with `page.evaluate(source)`, which runs through the DevTools protocol and so is not
subject to the app's CSP (`script-src 'self'` would block `add_script_tag`'s inline script); no
`bypass_csp`: the CSP stays on for everything the page does, and axe's run must not trip it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tenure
from tenure import demo
from tenure.api.app import create_app
from tenure.app.keys import create_key
from tenure.app.store import Store
from tenure.models import account_snapshot
from tests.served import serving

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="needs the system Chromium; `make test` installs it"
)
HERE = Path(__file__).resolve().parent
AXE = HERE / "vendor" / "axe-core" / "axe.min.js"
SHOTS = HERE.parent / "artifacts" / "screenshots" / "jobs"
WIDTHS = {"desktop": (1440, 900), "mobile": (390, 844)}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The demo company as of today, so that "last month" is the last complete month."""
    folder = tmp_path_factory.mktemp("jobs")
    ws = tenure.connect(f"duckdb:///{folder / 'jobs.duckdb'}")
    demo.build(ws, folder / "demo", accounts=300, events=30_000, seed=4, as_of=dt.date.today())
    ws.train_churn()  # what `make demo` does: the worklist's churn risk comes from this model
    account_snapshot.refresh(ws)  # the server refreshes it after loads; this one came before
    store = Store(f"sqlite:///{folder / 'app.db'}")
    key = create_key(store, "cs-lead", "admin")
    with serving(create_app(ws, store)) as base:
        yield {"base": base, "key": key}
    ws.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture(params=list(WIDTHS))
def lead(request: pytest.FixtureRequest, browser: Any, server: dict[str, Any]) -> Iterator[Any]:
    """A logged-in tab at one width; on leaving, no console error, page error, CSP violation or
    request answered with an error status."""
    width, height = WIDTHS[request.param]
    context = browser.new_context(
        viewport={"width": width, "height": height}, accept_downloads=True
    )
    context.add_init_script(
        "window.__csp = []; document.addEventListener('securitypolicyviolation',"
        " (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    tab = context.new_page()
    tab.width_name = request.param
    errors: list[str] = []
    tab.on("console", lambda m: m.type == "error" and errors.append(f"console: {m.text}"))
    tab.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    tab.on(
        "response",
        lambda r: r.status >= 400 and errors.append(f"{r.status} {r.request.method} {r.url}"),
    )
    tab.goto(server["base"] + "/login")
    tab.fill("input[name=api_key]", server["key"])
    tab.click("button[type=submit]")
    tab.wait_for_url("**/overview")
    tab.wait_for_selector("#page[data-loaded]", timeout=60_000)
    yield tab
    blocked = tab.evaluate("window.__csp || []") if not tab.is_closed() else []
    context.close()
    assert errors == [] and blocked == [], [*errors, *blocked]


def _go(tab: Any, label: str) -> None:
    """Open a page from the navigation, through the menu on a phone."""
    if tab.is_hidden("header nav"):
        tab.click("#menu")
    tab.click(f"header nav a:text-is('{label}')")
    tab.wait_for_selector("#page[data-loaded]", timeout=60_000)
    assert tab.get_attribute("#page", "data-loaded") == "1", tab.inner_text("#error")


def _shot(tab: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SHOTS / f"{name}-{tab.width_name}.png"), full_page=True)


def _finish(tab: Any, job: str) -> None:
    """The screenshot of where the job ended, and the accessibility check of that page."""
    tab.wait_for_load_state("networkidle")
    _shot(tab, job)
    tab.evaluate(AXE.read_text(encoding="utf-8"))
    found = tab.evaluate(
        """() => axe.run(document, { resultTypes: ["violations"] }).then((r) => r.violations
            .filter((v) => v.impact === "serious" || v.impact === "critical")
            .map((v) => `${v.impact} ${v.id}: ${v.help} at `
                + v.nodes.slice(0, 5).map((n) => n.target.join(" ")).join(", ")))"""
    )
    assert found == [], "\n".join(found)


def _table(tab: Any, selector: str) -> list[dict[str, str]]:
    """A table's rows as shown: header text -> cell text."""
    rows: list[dict[str, str]] = tab.eval_on_selector(
        selector,
        """(t) => { const heads = [...t.querySelectorAll("thead th")].map((h) => h.innerText.replace(/[▲▼]/g, "").trim());
            return [...t.querySelectorAll("tbody tr")].map((r) => Object.fromEntries(
                [...r.children].map((c, i) => [heads[i], c.innerText.trim()]))); }""",
    )
    return rows


def _last_month() -> dt.date:
    return (dt.date.today().replace(day=1) - dt.timedelta(days=1)).replace(day=1)


# -- 1. at-risk accounts and why -----------------------------------------------------------------
def test_job_1_the_accounts_most_at_risk_and_why(lead: Any) -> None:
    _go(lead, "Accounts")
    lead.wait_for_selector("#table-accounts tbody tr")
    grid = lead.locator("#table-accounts")
    assert (grid.get_attribute("data-sort"), grid.get_attribute("data-order")) == (
        "churn_probability",
        "desc",
    )
    rows = _table(lead, "#table-accounts")
    risks = [float(r["Churn risk"].rstrip("%")) for r in rows if r["Churn risk"] != "–"]
    assert len(risks) > 10, rows[:2] and risks == sorted(risks, reverse=True)
    riskiest = rows[0]
    # Why, in words a person reads ("usage down 40% in 30 days"), not column names.
    drivers = riskiest["Drivers"]
    assert re.search(r"[a-z]+ [a-z]+", drivers) and not re.search(r"\b[a-z]+_[a-z_]+\b", drivers)
    assert riskiest["Health"].split()[0].isdigit()
    lead.locator("#table-accounts tbody tr").first.locator("a.account-link").click()
    lead.wait_for_url("**/accounts/*")
    lead.wait_for_selector("#page[data-loaded]")
    assert lead.inner_text("main h1") == riskiest["Account"]
    facts = lead.inner_text("[data-panel=account] .facts")
    assert "Churn" in facts and riskiest["Churn risk"] in facts
    components = _table(lead, "#table-health")
    assert len(components) >= 5 and all(c["component"] and c["weight"] for c in components)
    _finish(lead, "1-at-risk-account")


# -- 2. last month's movements and who churned ---------------------------------------------------
def test_job_2_last_months_movements_and_who_churned(lead: Any, tmp_path: Path) -> None:
    _go(lead, "Revenue")
    lead.wait_for_selector("#chart-movements[data-rendered]")
    month = _last_month().isoformat()
    # The churned bar of last month, clicked where it is drawn (at least 3 px tall, however small).
    chart = lead.locator("#chart-movements")
    chart.scroll_into_view_if_needed()
    x, y = lead.evaluate(
        f"""() => {{ const c = echarts.getInstanceByDom(document.getElementById("chart-movements"));
            const o = c.getOption(); const s = o.series.findIndex((x) => x.name === "churned");
            const i = o.xAxis[0].data.indexOf({month!r});
            const at = (k) => Number([].concat(o.series[k].data[i]).pop()) || 0;
            const v = at(s); let base = 0;  // the bars stack: negatives below the ones before
            for (let k = 0; k < s; k++) if (Math.sign(at(k)) === Math.sign(v)) base += at(k);
            const [x, from] = c.convertToPixel({{ seriesIndex: s }}, [i, base]);
            const to = c.convertToPixel({{ seriesIndex: s }}, [i, base + v])[1];
            return [x, from + Math.sign(to - from) * Math.max(Math.abs(to - from), 3) / 2]; }}"""
    )
    box = chart.bounding_box()
    lead.mouse.click(box["x"] + x, box["y"] + y)
    lead.wait_for_function("() => document.getElementById('drill').dataset.loaded === '1'")
    assert lead.inner_text("#drill-title") == f"mrr_churned · {month}"
    churned = _table(lead, "#table-drill")
    assert churned, "the demo has accounts that churned last month"
    assert all(r["account_id"] for r in churned)
    # The MRR each account took away, adding up to the numerator shown above the list.
    numerator = lead.inner_text("#drill-numerator")
    assert re.fullmatch(r"-[\d,]+ [A-Z]{3}", numerator), numerator
    assert lead.inner_text("#drill-denominator") == "none (not a ratio)"

    def amount(text: str) -> float:
        number = text.split()[0].replace(",", "") if text else ""
        return float(number) if re.fullmatch(r"-?\d+(\.\d+)?", number) else float("nan")

    lost = [c for c in churned[0] if "mrr" in c and all(amount(r[c]) < 0 for r in churned)]
    assert lost, churned[0]
    total = sum(amount(r[lost[0]]) for r in churned)
    assert abs(total - amount(numerator)) <= len(churned), (total, numerator)
    assert "null" not in lead.inner_text("#drill")
    assert lead.inner_text("#drill-count").endswith(f"of {len(churned)} accounts")
    with lead.expect_download() as csv:
        lead.click("#drill a[data-export=drill-csv]")
    lines = Path(csv.value.path()).read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("account_id,") and len(lines) == len(churned) + 1
    _finish(lead, "2-who-churned")


# -- 3. the NPS trend and what detractors say ----------------------------------------------------
def test_job_3_the_nps_trend_and_what_detractors_say(lead: Any) -> None:
    _go(lead, "Voice of the customer")
    lead.wait_for_selector("#chart-nps[data-rendered]")
    points = lead.evaluate(
        "() => echarts.getInstanceByDom(document.getElementById('chart-nps')).getOption()"
        ".series[0].data.filter((v) => v !== null && v !== undefined && v !== '').length"
    )
    assert points >= 2, "the NPS trend needs points to be a trend"
    lead.select_option("#comment-filters select[name=band]", "detractor")
    lead.wait_for_function(
        "() => document.querySelector('#table-comments')?.dataset.filters.includes('band=detractor')"
    )
    detractors = int(lead.get_attribute("#table-comments", "data-total"))
    assert detractors > 0
    bands = lead.eval_on_selector_all(
        "#table-comments tbody tr", "rs => rs.map(r => r.dataset.band)"
    )
    assert set(bands) == {"detractor"}
    # The theme detractors mention most opens its comments, still detractors only.
    themes = _table(lead, "#table-themes")
    theme = max(themes, key=lambda t: float(t["detractor_mentions"]))["theme"]
    lead.click(f"#table-themes button[data-theme='{theme}']")
    lead.wait_for_function(
        f"() => document.querySelector('#table-comments').dataset.filters.includes('theme={theme}')"
    )
    said = _table(lead, "#table-comments")
    assert 0 < len(said) <= detractors
    assert all(r["band"] == "detractor" and theme in r["themes"] and r["comment"] for r in said)
    assert lead.input_value("#comment-filters select[name=band]") == "detractor"
    _finish(lead, "3-what-detractors-say")


# -- 4. an NRR goal for one segment --------------------------------------------------------------
def test_job_4_an_nrr_goal_for_one_segment(lead: Any) -> None:
    _go(lead, "Goals")
    form = lead.locator("#new-goal")
    name = f"NRR of one plan ({lead.width_name})"
    form.locator("input[name=name]").fill(name)
    form.locator("select[name=kind]").select_option("metric")
    form.locator("select[name=metric]").select_option("nrr")
    assert "in %" in lead.inner_text("#goal-unit")
    form.locator("select[name=segment_by]").select_option("plan")
    lead.wait_for_selector("#segment-values option", state="attached")
    plan = lead.get_attribute("#segment-values option", "value")  # the values offered
    form.locator("input[name=segment_value]").fill(plan)
    form.locator("input[name=start_value]").fill("95")
    form.locator("input[name=target_value]").fill("110")
    form.locator("input[name=due_date]").fill(f"{dt.date.today().year + 1}-12-31")
    form.locator("button[type=submit]").click()
    goal = lead.locator(f"[data-goal='{name}']")
    goal.wait_for()
    words = goal.inner_text()
    assert f"for plan = {plan}" in words and "% now, from 95.0% to 110.0%" in words
    assert re.search(r"\d+% \(expected", words), words  # the progress
    lead.wait_for_function(
        f"() => document.querySelector(\"[data-goal='{name}'] .goal-history\")?.dataset.rendered"
    )
    history = lead.evaluate(
        f"""() => echarts.getInstanceByDom(document.querySelector(
            "[data-goal='{name}'] .goal-history")).getOption().series[0].data.length"""
    )
    assert history >= 1
    _finish(lead, "4-nrr-goal")


# -- 5. the 48-hour ticket reminder, dry-run first -----------------------------------------------
def test_job_5_the_48_hour_ticket_reminder_with_a_dry_run(lead: Any) -> None:
    _go(lead, "Automations")
    name = f"Ticket waiting 48 hours ({lead.width_name})"
    lead.fill("#rule-form input[name=name]", name)
    lead.select_option("#rule-form select[name=trigger_type]", "state_duration")
    lead.fill("#rule-form input[name=t_hours]", "48")
    lead.select_option("#rule-form select[name=action_kind]", "task")
    lead.fill("#rule-form input[name=a_title]", "Answer ticket {{ ticket_id }}")
    lead.click("#preview-rule")
    result = lead.locator("#preview-result")
    result.wait_for()
    would = int(result.get_attribute("data-count"))
    assert would > 0, "the demo has tickets open for more than 48 hours"
    assert result.inner_text().startswith(f"Would fire {would} today")
    assert "null" not in lead.inner_text("#preview")
    _shot(lead, "5-ticket-reminder-dry-run")
    assert lead.is_checked("#start-form input[value=now]")  # "from now on" is the default
    lead.click("#start-rule")
    started = lead.inner_text("#started")
    assert started == f'"{name}" is on; {would} already qualifying were skipped.', started
    row = lead.locator("#table-rules tbody tr", has_text=name)
    row.wait_for()
    assert row.get_attribute("data-enabled") == "true"
    assert "a ticket open for more than 48 hours" in row.inner_text()
    row.locator("[data-action=firings]").click()
    lead.wait_for_selector("#rule-detail >> text=No firings yet.")  # the backlog was skipped
    _finish(lead, "5-ticket-reminder")
