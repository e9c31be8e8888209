from pathlib import Path

import pytest
from pydantic import ValidationError

from antiphon.config import Settings, SettingsError, load_settings


def test_precedence_is_defaults_then_file_then_environment_then_flags(tmp_path: Path) -> None:
    config = tmp_path / "antiphon.toml"
    config.write_text('port = 9000\nparallel = 3\nctx = 2048\nmodel = ["a=/x.gguf"]\n')
    environ = {"ANTIPHON_PARALLEL": "5", "ANTIPHON_CTX": "4096"}
    settings = load_settings({"ctx": 1024, "host": None}, config, environ)
    assert settings.host == "127.0.0.1"  # default: flag given as None does not count
    assert settings.port == 9000  # file
    assert settings.parallel == 5  # environment beats file
    assert settings.ctx == 1024  # flag beats environment
    assert settings.model == ("a=/x.gguf",)


def test_config_file_can_come_from_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("strict = true\n")
    assert load_settings({}, None, {"ANTIPHON_CONFIG": str(config)}).strict is True


def test_environment_lists_are_comma_separated() -> None:
    settings = load_settings({}, None, {"ANTIPHON_ALIAS": "claude-*, gpt-4=m"})
    assert settings.alias == ("claude-*", "gpt-4=m")


def test_settings_are_frozen() -> None:
    settings = load_settings({}, None, {})
    with pytest.raises(ValidationError):
        settings.port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("environ", "message"),
    [({"ANTIPHON_PARALLEL": "zero"}, "parallel"), ({"ANTIPHON_PORT": "70000"}, "port")],
)
def test_bad_values_name_the_setting(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings({}, None, environ)


def test_missing_or_broken_config_files_are_reported(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="not found"):
        load_settings({}, tmp_path / "nope.toml", {})
    broken = tmp_path / "broken.toml"
    broken.write_text("port = = 1")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings({}, broken, {})


def test_unknown_keys_in_the_file_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("prot = 1\n")
    with pytest.raises(SettingsError, match="prot"):
        load_settings({}, config, {})


def test_every_serve_option_reaches_the_setting_of_its_name() -> None:
    import inspect

    from antiphon import cli

    options = {name: [] for name in inspect.signature(cli.serve).parameters}
    given = cli._given_settings(options)
    assert set(given) == set(Settings.model_fields)
    assert all(value == () for value in given.values())  # lists arrive as tuples
