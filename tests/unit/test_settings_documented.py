"""Every setting is documented where users look: the README's table (help comes from the
same field descriptions, so it cannot drift)."""

from pathlib import Path

from antiphon.config import ENV_PREFIX, Settings, settings_help

README = (Path(__file__).parents[2] / "README.md").read_text()


def test_every_setting_is_in_the_readme_table() -> None:
    for name in Settings.model_fields:
        row = f"| `--{name.replace('_', '-')}` | `{ENV_PREFIX}{name.upper()}` | `{name}` |"
        assert row in README, f"README is missing the row for {name}"


def test_help_names_each_variable_and_default() -> None:
    for name, text in settings_help().items():
        assert f"{ENV_PREFIX}{name.upper()}" in text and "default:" in text
