"""The README's examples, read from the README itself so the tests run them as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"


def readme_block(name: str) -> list[str]:
    """The command lines of the code block after `<!-- example: NAME -->`, comments dropped."""
    text = README.read_text(encoding="utf-8")
    found = re.search(rf"<!-- example: {re.escape(name)} -->\s*```\w*\n(.*?)```", text, re.S)
    assert found, f"README.md has no block marked <!-- example: {name} -->"
    lines = (line.split("#", 1)[0].strip() for line in found.group(1).splitlines())
    return [line for line in lines if line]
