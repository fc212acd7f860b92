"""Managing data sources: `tenure sources add/list/sync/remove`, the same in the API, syncs on the
server's jobs, and a credential that never shows (not in the app database, an answer, an error,
a log or a page).

This module is also the connector kind `testcrm`, registered through the registry's extension
point: `build`, `OPTIONS`, `SECRET` and `SECRET_ENV` below, over companies read from a JSON file.
"""

from __future__ import annotations

import contextlib
import json
import logging
import stat
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

import tenure
from tenure.app import sources
from tenure.app.keys import create_key
from tenure.app.store import Store
from tenure.cli import app as cli
from tenure.errors import TenureError
from tenure.sources import registry, staging
from tenure.sources.base import Connector, Page, Record

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

# -- the connector kind ---------------------------------------------------------------------------
TOKEN = "tok_live_" + "Zq8rT3" * 4  # what the CRM accepts; must never appear anywhere shown
SECRET = "a CRM API token (tok_...)"
SECRET_ENV = "TENURE_TEST_CRM_TOKEN"
OPTIONS = {
    "path": "a JSON file of the companies the CRM holds",
    "api_base": "where the CRM answers (unused here: the companies come from `path`)",
    "fail_after_pages": "stop with an error quoting the token after this many pages",
}
COMPANIES = [{"id": f"c{i}", "name": f"Company {i}", "updated": i} for i in range(1, 8)]


class Crm(Connector):
    """Companies, three to a page, resumable by their `updated` counter."""

    kind = "testcrm"
    streams = ("companies",)

    def __init__(self, companies: list[Record], token: str, fail_after: int | None) -> None:
        self.companies = companies
        self.token = token
        self.fail_after = fail_after

    def pull(self, stream: str, cursor: str | None) -> Iterator[Page]:
        newer = [c for c in self.companies if cursor is None or c["updated"] > int(cursor)]
        for n, start in enumerate(range(0, len(newer), 3)):
            if self.fail_after is not None and n == self.fail_after:
                # A careless client library quoting the credential in its error.
                raise ConnectionError(
                    f"CRM refused token {self.token} <img src=x onerror=alert(1)>"
                )
            page = newer[start : start + 3]
            yield Page(stream, page, str(page[-1]["updated"]))

    def transform(self, staged: Mapping[str, Sequence[Record]]) -> dict[str, pd.DataFrame]:
        rows = [
            {"account_id": c["id"], "name": c["name"], "created_at": "2026-01-01"}
            for c in staged["companies"]
        ]
        return {"accounts": pd.DataFrame(rows, columns=["account_id", "name", "created_at"])}


def build(options: Mapping[str, str], secret: str | None) -> Connector:
    if secret != TOKEN:
        raise PermissionError("the CRM refused the token")
    companies = json.loads(Path(options["path"]).read_text(encoding="utf-8"))
    fail = options.get("fail_after_pages")
    return Crm(companies, secret, int(fail) if fail else None)


# -- fixtures -------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def kind() -> Iterator[None]:
    registry.register("testcrm", __name__)
    yield
    registry.unregister("testcrm")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "crm.json").write_text(json.dumps(COMPANIES), encoding="utf-8")
    return tmp_path


@pytest.fixture
def urls(folder: Path) -> tuple[str, str]:
    """(workspace URL, app store URL) in the folder."""
    return f"duckdb:///{folder / 'w.duckdb'}", f"sqlite:///{folder / 'app.db'}"


@pytest.fixture
def store(urls: tuple[str, str]) -> Iterator[Store]:
    opened = Store(urls[1])
    yield opened
    opened.dispose()


def cli_run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def accounts(db: str) -> list[tuple[str, str]]:
    with tenure.connect(db) as ws:
        return ws.duckdb.execute("SELECT account_id, name FROM accounts ORDER BY 1").fetchall()


def never_shown(folder: Path, *texts: str) -> None:
    """The token is in none of the texts, nor in any file of the folder but the secrets file."""
    for text in texts:
        assert TOKEN not in text
    for path in folder.rglob("*"):
        if path.is_file() and not path.name.endswith(".secrets"):
            assert TOKEN.encode() not in path.read_bytes(), path


def eventually(check: Callable[[], Any], seconds: float = 60.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds} seconds")


# -- the registry ---------------------------------------------------------------------------------
def test_an_unknown_kind_or_option_is_one_line_naming_it() -> None:
    with pytest.raises(
        TenureError, match=r"unknown source kind 'nosuch'; available kinds: .*testcrm"
    ):
        registry.resolve("nosuch")
    with pytest.raises(TenureError, match="testcrm has no option 'colour'; its options: api_base"):
        registry.resolve("testcrm").check_options({"colour": "red"})
    with pytest.raises(TenureError, match="unknown source kind"):
        registry.resolve("../etc")
    with pytest.raises(TenureError, match="lowercase"):
        registry.register("Bad Kind", __name__)
    assert registry.resolve("testcrm").secret_env == SECRET_ENV


# -- the CLI --------------------------------------------------------------------------------------
def test_the_cli_adds_syncs_lists_and_removes_a_source(folder: Path, urls: tuple[str, str]) -> None:
    db, app_db = urls
    path = str(folder / "crm.json")
    code, out, err = cli_run(
        "sources", "add", "testcrm", "--name", "crm", "--option", f"path={path}",
        "--secret-stdin", "--every", "30", "--app-db", app_db, stdin=TOKEN + "\n",
    )  # fmt: skip
    assert code == 0, err
    assert "source crm added (testcrm, every 30 min, credential: kept in the secrets file)" in out
    secrets_file = folder / "app.db.secrets"
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    assert json.loads(secrets_file.read_text())["source:crm"] == TOKEN

    code, out, err = cli_run("sources", "sync", "crm", "--db", db, "--app-db", app_db)
    assert code == 0, err
    assert "pulled 7 companies" in out and "7 inserted" in out
    assert accounts(db) == [(c["id"], c["name"]) for c in COMPANIES]
    code, out, _ = cli_run("sources", "sync", "crm", "--db", db, "--app-db", app_db)
    assert "nothing new" in out or "pulled 0 companies" in out
    code, out, _ = cli_run("sources", "sync", "crm", "--full", "--db", db, "--app-db", app_db)
    assert code == 0 and "pulled 7 companies" in out and "7 unchanged" in out

    code, out, _ = cli_run("sources", "list", "--format", "json", "--app-db", app_db)
    (row,) = json.loads(out)
    assert row["name"] == "crm" and row["schedule"] == "every 30 min"
    assert (row["status"], row["records"], row["loaded"], row["rejects"]) == ("ok", 7, 0, 0)
    assert row["next run"] > row["last sync"]
    code, out, _ = cli_run("sources", "list", "--app-db", app_db)
    assert code == 0 and out.startswith("1 source (times UTC)")

    code, out, _ = cli_run("sources", "remove", "crm", "--db", db, "--app-db", app_db)
    assert code == 0 and "source crm removed" in out
    assert "source:crm" not in json.loads(secrets_file.read_text())
    with tenure.connect(db) as ws:
        assert staging.counts(ws.duckdb, "crm") == {}
    assert len(accounts(db)) == 7  # the rows it loaded stay
    never_shown(folder)


def test_cli_mistakes_are_one_line_errors(folder: Path, urls: tuple[str, str]) -> None:
    db, app_db = urls
    for args, expected in [
        (("add", "nosuch"), "unknown source kind 'nosuch'; available kinds:"),
        (("add", "testcrm", "--option", "colour=red"), "testcrm has no option 'colour'"),
        (("add", "testcrm", "--option", "path"), "--option 'path': write name=value"),
        (("add", "testcrm", "--every", "5", "--manual"), "give either --every or --manual"),
        (("add", "testcrm", "--secret-stdin"), "--secret-stdin: standard input was empty"),
        (("sync", "nosuch", "--db", db), "no source named 'nosuch'; sources: none"),
        (("remove", "nosuch", "--db", db), "no source named 'nosuch'"),
    ]:
        code, _, err = cli_run("sources", *args, "--app-db", app_db, stdin="")
        assert code == 2, args
        assert err.startswith("error: ") and expected in err and err.count("\n") == 1, err
    assert cli_run("sources", "add", "testcrm", "--manual", "--app-db", app_db)[0] == 0
    code, _, err = cli_run("sources", "add", "testcrm", "--app-db", app_db)
    assert code == 2 and "a source named 'testcrm' exists" in err


def test_from_db_adds_the_kinds_warehouse_reader_with_the_url_kept_secret(
    folder: Path, urls: tuple[str, str], store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, app_db = urls
    url = f"postgres://billing:{TOKEN}@warehouse.example:5432/analytics"
    code, out, err = cli_run(
        "sources", "add", "stripe", "--from-db", url, "--schema", "billing", "--layout",
        "airbyte", "--manual", "--app-db", app_db,
    )  # fmt: skip
    assert code == 0, err
    assert "source stripe added (stripe_elt, manual, credential: kept in the secrets file)" in out
    assert json.loads((folder / "app.db.secrets").read_text())["source:stripe"] == url
    shown = sources.get(store, "stripe")
    assert (shown["kind"], shown["options"]) == (
        "stripe_elt",
        {"layout": "airbyte", "schema": "billing"},
    )
    code, out, err = cli_run(
        "sources", "add", "zendesk", "--name", "desk", "--from-db-env", "DESK_WAREHOUSE",
        "--app-db", app_db,
    )  # fmt: skip
    assert code == 0, err
    assert "source desk added (zendesk_elt, every 60 min, credential: $DESK_WAREHOUSE)" in out
    desk = sources.get(store, "desk")
    assert desk["options"] == {"layout": "fivetran", "schema": "zendesk"}
    # the URL is read at each sync: a missing table is a one-line error, without it
    monkeypatch.setenv("DESK_WAREHOUSE", f"duckdb:///{folder / 'empty.duckdb'}")
    code, _, err = cli_run("sources", "sync", "desk", "--db", db, "--app-db", app_db)
    assert code == 2 and err.startswith("error: ") and "zendesk_elt: organizations" in err
    assert "empty.duckdb" not in err
    code, out, _ = cli_run("sources", "list", "--format", "json", "--app-db", app_db)
    never_shown(folder, out, err, repr(shown))


def test_from_db_mistakes_are_one_line_errors(urls: tuple[str, str]) -> None:
    _, app_db = urls
    for args, expected in [
        (("add", "testcrm", "--from-db", "duckdb://"), "testcrm has no warehouse reader"),
        (("add", "stripe", "--layout", "dlt"), "--layout and --schema go with --from-db"),
        (("add", "stripe", "--from-db", "duckdb://", "--secret-stdin"), "give one of --from-db"),
        (("add", "stripe", "--from-db", "a", "--from-db-env", "B"), "give one of --from-db"),
        (("add", "stripe", "--from-db", " "), "--from-db: the warehouse URL is empty"),
        (
            ("add", "stripe", "--from-db", "duckdb://", "--layout", "dlt", "--option", "layout=x"),
            "--layout and --option layout=... disagree",
        ),
        (("add", "stripe", "--from-db", "duckdb://", "--layout", "stitch"), "layout"),
    ]:
        code, _, err = cli_run("sources", *args, "--app-db", app_db, stdin="x")
        assert code == 2, args
        assert err.startswith("error: ") and expected in err and err.count("\n") == 1, err
    assert "stripe, zendesk" in cli_run("sources", "add", "hubspot", "--from-db", "x")[2]


def test_a_credential_from_the_environment_is_read_at_each_sync(
    folder: Path, urls: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, app_db = urls
    monkeypatch.delenv(SECRET_ENV, raising=False)
    option = f"path={folder / 'crm.json'}"
    assert cli_run("sources", "add", "testcrm", "--option", option, "--app-db", app_db)[0] == 0
    code, _, err = cli_run("sources", "sync", "testcrm", "--db", db, "--app-db", app_db)
    assert code == 2
    assert f"set the environment variable {SECRET_ENV} to {SECRET}" in err
    monkeypatch.setenv(SECRET_ENV, TOKEN)
    code, out, err = cli_run("sources", "sync", "testcrm", "--db", db, "--app-db", app_db)
    assert code == 0, err
    assert len(accounts(db)) == 7
    never_shown(folder, out, err)


def test_a_failing_sync_never_shows_the_credential(
    folder: Path, urls: tuple[str, str], store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    db, app_db = urls
    sources.add(
        store,
        "crm",
        "testcrm",
        {"path": str(folder / "crm.json"), "fail_after_pages": "1"},
        secret=TOKEN,
    )
    with caplog.at_level(logging.DEBUG):
        code, out, err = cli_run("sources", "sync", "crm", "--db", db, "--app-db", app_db)
    assert code == 2
    assert err.count("\n") == 1 and "ConnectionError: CRM refused token ***" in err
    shown = sources.get(store, "crm")
    assert shown["status"] == "failed" and "***" in shown["message"]
    assert shown["next_run_at"] > shown["finished_at"]
    key = create_key(store, "viewer", "viewer")
    with tenure.connect(db) as ws, TestClient(tenure_app(ws, store)) as client:
        answer = client.get("/api/sources", headers={"Authorization": f"Bearer {key}"}).text
        assert "***" in answer
    with tenure.connect(db) as ws:  # the page staged before the failure stays
        assert staging.counts(ws.duckdb, "crm") == {"companies": 3}
    never_shown(folder, out, err, repr(shown), answer, caplog.text)


# -- the API --------------------------------------------------------------------------------------
def tenure_app(ws: Any, store: Store, **options: Any) -> Any:
    from tenure.api.app import create_app

    return create_app(ws, store, **options)


def test_the_api_adds_lists_syncs_and_removes_sources(
    folder: Path, urls: tuple[str, str], store: Store
) -> None:
    db, _ = urls
    keys = {role: create_key(store, role, role) for role in ("viewer", "editor", "admin")}
    auth = {role: {"Authorization": f"Bearer {key}"} for role, key in keys.items()}
    body = {
        "name": "crm",
        "kind": "testcrm",
        "options": {"path": str(folder / "crm.json")},
        "secret": TOKEN,
        "every_minutes": None,
    }
    with tenure.connect(db) as ws, TestClient(tenure_app(ws, store)) as client:
        assert client.post("/api/sources", json=body, headers=auth["editor"]).status_code == 403
        created = client.post("/api/sources", json=body, headers=auth["admin"])
        assert created.status_code == 201, created.text
        assert created.json()["credential"] == "kept in the secrets file"
        assert created.json()["schedule"] == "manual" and created.json()["next_run_at"] is None
        again = client.post("/api/sources", json=body, headers=auth["admin"])
        assert again.status_code == 409 and "exists" in again.json()["detail"]
        for change, expected in [
            ({"kind": "nosuch", "name": "x"}, "unknown source kind 'nosuch'"),
            ({"name": "y", "options": {"colour": "red"}}, "testcrm has no option 'colour'"),
        ]:
            refused = client.post("/api/sources", json={**body, **change}, headers=auth["admin"])
            assert refused.status_code == 400 and expected in refused.json()["detail"]
            assert refused.headers["content-type"] == "application/problem+json"
        invalid = client.post(
            "/api/sources", json={**body, "every_minutes": 0}, headers=auth["admin"]
        )
        assert invalid.status_code == 422 and "every_minutes" in invalid.json()["detail"]

        assert client.post("/api/sources/crm/sync", headers=auth["viewer"]).status_code == 403
        synced = client.post("/api/sources/crm/sync", headers=auth["editor"])
        assert synced.status_code == 200, synced.text  # no jobs in this app: synced in the request
        assert (synced.json()["status"], synced.json()["records"], synced.json()["loaded"]) == (
            "ok",
            7,
            7,
        )
        listed = client.get("/api/sources", headers=auth["viewer"])
        assert [s["name"] for s in listed.json()] == ["crm"]
        assert client.post("/api/sources/nosuch/sync", headers=auth["editor"]).status_code == 404
        assert client.delete("/api/sources/crm", headers=auth["editor"]).status_code == 403
        assert client.delete("/api/sources/crm", headers=auth["admin"]).status_code == 204
        assert client.get("/api/sources", headers=auth["viewer"]).json() == []
        assert client.get("/api/sources/crm", headers=auth["viewer"]).status_code == 404
        texts = [created.text, synced.text, listed.text]
    never_shown(folder, *texts)


def test_the_server_syncs_due_sources_as_jobs_and_refreshes_the_snapshot(
    folder: Path, urls: tuple[str, str], store: Store
) -> None:
    db, _ = urls
    options = {"path": str(folder / "crm.json")}
    # Added before the server starts (another process could add one): due at once.
    sources.add(store, "scheduled", "testcrm", options, secret=TOKEN, every_minutes=60)
    sources.add(store, "manual", "testcrm", options, secret=TOKEN, every_minutes=None)
    admin = {"Authorization": f"Bearer {create_key(store, 'a', 'admin')}"}
    with (
        tenure.connect(db) as ws,
        TestClient(tenure_app(ws, store, schedule_seconds=3600)) as client,
    ):
        live = client.app.state.live  # type: ignore[attr-defined]

        def get(name: str) -> dict[str, Any]:
            return client.get(f"/api/sources/{name}", headers=admin).json()  # type: ignore[no-any-return]

        eventually(lambda: get("scheduled")["status"] == "ok")
        assert get("manual")["status"] is None  # a manual source waits to be asked
        jobs = {j["name"]: j for j in client.get("/api/jobs", headers=admin).json()}
        assert {"sources", "source:scheduled", "source:manual"} <= set(jobs)

        snapshots = jobs["account_snapshot"]["runs"]
        version = live.version
        queued = client.post("/api/sources/manual/sync", headers=admin)
        assert queued.status_code == 202 and queued.json() == {
            "job": "source:manual",
            "status": "queued",
        }
        done = eventually(lambda: (s := get("manual"))["status"] in ("ok", "failed") and s)
        assert (done["status"], done["records"], done["loaded"]) == ("ok", 7, 0)  # all unchanged
        assert live.version == version  # nothing changed: readers' caches stay valid

        (folder / "crm.json").write_text(
            json.dumps([*COMPANIES, {"id": "c8", "name": "Company 8", "updated": 8}])
        )
        assert client.post("/api/sources/manual/sync", headers=admin).status_code == 202
        eventually(lambda: get("manual")["loaded"] == 1)
        eventually(lambda: live.version > version)
        eventually(
            lambda: (
                {j["name"]: j for j in client.get("/api/jobs", headers=admin).json()}[
                    "account_snapshot"
                ]["runs"]
                > snapshots
            )
        )
        assert client.delete("/api/sources/manual", headers=admin).status_code == 204
        jobs = {j["name"] for j in client.get("/api/jobs", headers=admin).json()}
        assert "source:manual" not in jobs and "source:scheduled" in jobs


def test_sync_runs_inside_the_server_that_holds_the_store(
    folder: Path, urls: tuple[str, str], store: Store
) -> None:
    """What a `tenure sources sync` forwarded to `tenure serve` runs: the command inside the
    server, on its live workspace, whose after-write hooks see the change."""
    from tenure.cli.remote import ROUTE, TOKEN_HEADER, add_route

    db, _ = urls
    sources.add(store, "crm", "testcrm", {"path": str(folder / "crm.json")}, secret=TOKEN)
    with tenure.connect(db) as ws:
        api = tenure_app(ws, store)
        add_route(api, api.state.live, store, "local-token")
        written: list[int] = []
        api.state.live.after_write.append(lambda: written.append(1))
        with TestClient(api) as client:
            answer = client.post(
                ROUTE,
                json={"argv": ["sources", "sync", "crm", "--db", db], "cwd": str(folder)},
                headers={TOKEN_HEADER: "local-token"},
            ).json()
        assert answer["exit_code"] == 0, answer
        assert "pulled 7 companies" in answer["stdout"]
        assert written == [1]  # one version move for the whole sync, not one per page
        rows = ws.duckdb.execute("SELECT count(*) FROM accounts").fetchone()
    assert rows == (7,)
    assert sources.get(store, "crm")["status"] == "ok"


# -- the dashboard --------------------------------------------------------------------------------
CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs the system Chromium")
def test_the_sources_page_shows_each_source_and_syncs_one_now(
    folder: Path, urls: tuple[str, str], store: Store
) -> None:
    from playwright.sync_api import sync_playwright

    from tests.served import serving

    db, _ = urls
    path = str(folder / "crm.json")
    sources.add(store, "billing", "testcrm", {"path": path}, secret=TOKEN, every_minutes=None)
    sources.add(store, "broken", "testcrm", {"path": path, "fail_after_pages": "0"}, secret=TOKEN)
    with pytest.raises(sources.SyncFailed), tenure.connect(db) as ws:
        sources.sync(store, "broken", lambda: contextlib.nullcontext(ws))
    editor = create_key(store, "editor", "editor")
    with (
        tenure.connect(db) as ws,
        serving(tenure_app(ws, store)) as base,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        tab = browser.new_page()
        blocked: list[str] = []
        tab.on("console", lambda m: "Content Security Policy" in m.text and blocked.append(m.text))
        tab.goto(base + "/login")
        tab.fill("input[name=api_key]", editor)
        tab.click("button[type=submit]")
        tab.wait_for_url("**/overview")
        tab.goto(base + "/sources")
        tab.wait_for_selector("#page[data-loaded='1']", timeout=60_000)
        failed = tab.locator("tr[data-source=broken]")
        assert failed.get_attribute("data-status") == "failed"
        message = failed.locator("td[data-column=message]").inner_text()
        assert "<img src=x onerror=alert(1)>" in message and "***" in message
        assert tab.locator("#table-sources img").count() == 0  # text, never markup
        row = tab.locator("tr[data-source=billing]")
        assert row.get_attribute("data-status") == "never"
        row.locator("button[data-action=sync]").click()
        tab.wait_for_selector("tr[data-source=billing][data-status=ok]", timeout=60_000)
        cells = {
            key: tab.locator(f"tr[data-source=billing] td[data-column={key}]").inner_text()
            for key in ("kind", "records", "loaded", "rejected", "next_run_at")
        }
        assert cells == {
            "kind": "testcrm",
            "records": "7",
            "loaded": "7",
            "rejected": "0",
            "next_run_at": "manual",
        }
        shots = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots"
        shots.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(shots / "sources.png"), full_page=True)
        page_text = tab.content()
        browser.close()
    assert blocked == []
    never_shown(folder, page_text)


def test_a_removed_source_with_kept_data_resumes_from_its_cursor(
    folder: Path, urls: tuple[str, str], store: Store
) -> None:
    db, app_db = urls
    options = {"path": str(folder / "crm.json")}
    sources.add(store, "crm", "testcrm", options, secret=TOKEN)
    with tenure.connect(db) as ws:
        sources.sync(store, "crm", lambda: contextlib.nullcontext(ws))
    code, _, err = cli_run(
        "sources", "remove", "crm", "--keep-data", "--db", db, "--app-db", app_db
    )
    assert code == 0, err
    sources.add(store, "crm", "testcrm", options, secret=TOKEN)
    with tenure.connect(db) as ws:
        report = sources.sync(store, "crm", lambda: contextlib.nullcontext(ws))
    assert report.records == 0  # resumed from the kept cursor: nothing new to pull
    assert len(accounts(db)) == 7
