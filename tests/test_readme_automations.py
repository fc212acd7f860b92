"""The README's automation examples, read from the README and run as written: both rule files are
accepted by `tenure automations add`, the dry run lists what each would fire on the demo company,
the feedback rule's run delivers every firing (no action fails), and the 48-hour ticket rule
started from now on sends nothing for tickets that were already waiting."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

import tenure
from tenure import demo
from tenure.app import automations
from tenure.app.store import AutomationRule, Store, Task
from tenure.cli import app
from tests.readme import README, readme_block


def _yaml_block(name: str) -> str:
    """The text of the YAML block after `<!-- example: NAME -->`, indentation kept."""
    text = README.read_text(encoding="utf-8")
    found = re.search(rf"<!-- example: {re.escape(name)} -->\s*```yaml\n(.*?)```", text, re.S)
    assert found, f"README.md has no yaml block marked <!-- example: {name} -->"
    return found.group(1)


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("readme-automations")
    ws = tenure.connect(f"duckdb:///{folder / 'demo.duckdb'}")
    demo.build(ws, folder / "demo", accounts=300, events=20_000, seed=5, as_of=dt.date.today())
    ws.close()
    return folder


def test_the_readme_rules_run_as_written(
    company: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "feedback.yaml").write_text(_yaml_block("automation-feedback"), encoding="utf-8")
    (tmp_path / "tickets.yaml").write_text(_yaml_block("automation-tickets"), encoding="utf-8")
    app_db = f"sqlite:///{tmp_path / 'app.db'}"
    monkeypatch.setenv("TENURE_DB", f"duckdb:///{company / 'demo.duckdb'}")
    monkeypatch.setenv("TENURE_APP_DB", app_db)
    runner = CliRunner()
    outputs = []
    commands = readme_block("automation-commands")
    assert commands[-1] == "tenure automations run"
    for line in commands[:-1]:  # the real run comes last, after the ticket rule is started
        words = line.split()
        assert words[0] == "tenure"
        result = runner.invoke(app, words[1:])
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    assert outputs[0] == "rule 1 created\n"  # the feedback rule, with its backlog
    assert outputs[1].startswith("rule 2 created; ")  # tickets from now on: the waiting ones seen
    store = Store(app_db)
    try:
        with store.session() as session:
            rules = {r.name: r.id for r in session.scalars(select(AutomationRule))}
        feedback, tickets = (
            rules["Feedback a week after a purchase"],
            rules["Ticket unresolved for 48 hours"],
        )
        waiting = int(outputs[1].split("; ")[1].split()[0])
        assert waiting > 0
        ws = tenure.connect(f"duckdb:///{company / 'demo.duckdb'}", read_only=True)
        try:
            preview = automations.run(store, ws, dry_run=True)
            would = {r: [f for f in preview.fired if f["rule_id"] == r] for r in rules.values()}
            assert would[feedback] and not would[tickets] and preview.failed == []
            # The dry run printed the same: the feedback rule's backlog, nothing for the tickets.
            assert f"would fire: {len(would[feedback])};" in outputs[2]
        finally:
            ws.close()
        ran = runner.invoke(app, commands[-1].split()[1:])
        assert ran.exit_code == 0, ran.output
        with store.session() as session:
            tasks = list(session.scalars(select(Task)))
        assert len(tasks) == len(would[feedback])
        assert all(t.title.startswith("Ask ") and " how order " in t.title for t in tasks)
        assert automations.firings(store, tickets) == []
        assert automations.firings(store, status="dead") == []
        assert all(d["status"] == "sent" for d in automations.firings(store, feedback))
    finally:
        store.engine.dispose()


def test_backlog_fires_what_already_qualifies_and_now_does_not(
    company: Path, tmp_path: Path
) -> None:
    store = Store(f"sqlite:///{tmp_path / 'app.db'}")
    ws = tenure.connect(f"duckdb:///{company / 'demo.duckdb'}")
    try:
        rule = {"type": "state_duration", "hours": 48}
        task = [{"kind": "task", "title": "{{ ticket_id }}"}]
        late = automations.create_rule(store, "backlog", rule, [], task, enabled=False)
        fresh = automations.create_rule(store, "now", rule, [], task, enabled=False)
        waiting = automations.run(store, ws, dry_run=True, rule_ids=[late])
        assert waiting.fired  # a disabled rule can still be previewed
        assert automations.run(store, ws, rule_ids=[late]).fired == []  # disabled: nothing runs
        assert automations.start_rule(store, ws, late, "backlog")["skipped"] == 0
        assert automations.start_rule(store, ws, fresh, "now")["skipped"] == len(waiting.fired)
        ran = automations.run(store, ws)
        assert {f["rule_id"] for f in ran.fired} == {late}
        assert len(ran.fired) == len(waiting.fired)
    finally:
        ws.close()
        store.engine.dispose()
