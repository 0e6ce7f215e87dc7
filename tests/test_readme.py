"""The README stays true: its configuration table and commands match the code."""

from __future__ import annotations

import re
from pathlib import Path

from tenantflow.cli import COMMANDS
from tenantflow.settings_doc import environment_names, settings_markdown

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_configuration_table_is_the_generated_one() -> None:
    assert settings_markdown() in README, "regenerate with `tenantflow config`"


def test_every_setting_is_documented() -> None:
    missing = [name for name in environment_names() if f"`{name}`" not in README]
    assert missing == []


def _bash_blocks(text: str) -> list[str]:
    blocks: list[str] = []
    current: list[str] = []
    inside = False
    for line in text.splitlines():
        if line.startswith("```"):
            if inside:
                blocks.append("\n".join(current))
                current = []
            inside = line.strip() == "```bash"
            continue
        if inside:
            current.append(line)
    return blocks


def test_cli_commands_in_the_readme_exist() -> None:
    blocks = _bash_blocks(README)
    assert blocks
    used = {
        m.group(1) for b in blocks for m in re.finditer(r"(?:^|[\s($|])tenantflow (\w[\w-]*)", b)
    }
    assert used, "the README shows no tenantflow command"
    assert used <= set(COMMANDS), f"unknown commands in README: {used - set(COMMANDS)}"
