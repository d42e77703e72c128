import pytest

from fanfare_core.settings import SettingsError, load_settings, service_settings


def test_settings_come_from_fanfare_variables() -> None:
    settings = load_settings(
        {
            "FANFARE_DATABASE_URL": "postgresql://db/fanfare",
            "FANFARE_HTTP_PORT": "9000",
            "FANFARE_OUTBOX_POLL_SECONDS": "0.5",
            "UNRELATED": "x",
        }
    )
    assert settings.database_url == "postgresql://db/fanfare"
    assert settings.http_port == 9000
    assert settings.outbox_poll_seconds == 0.5


def test_bad_numbers_and_missing_servers_are_reported() -> None:
    with pytest.raises(SettingsError, match="FANFARE_HTTP_PORT"):
        load_settings({"FANFARE_HTTP_PORT": "eighty"})
    with pytest.raises(SettingsError, match="FANFARE_REDIS_URL, FANFARE_NATS_URL"):
        load_settings({"FANFARE_DATABASE_URL": "postgresql://db"}).require_infrastructure()


def test_a_service_has_its_own_default_port_unless_told_otherwise() -> None:
    assert service_settings("scheduler", 8082, {}).http_port == 8082
    assert service_settings("scheduler", 8082, {"FANFARE_HTTP_PORT": "9"}).http_port == 9
    assert service_settings("scheduler", 8082, {}).service_name == "scheduler"


def test_token_lifetimes_are_settings_and_must_be_positive() -> None:
    settings = load_settings({"FANFARE_ACCESS_TOKEN_SECONDS": "600"})
    assert (settings.access_token_seconds, settings.refresh_token_seconds) == (600, 2592000)
    assert (settings.token_issuer, settings.exchange_code_seconds) == ("fanfare", 120)
    with pytest.raises(SettingsError, match="FANFARE_REFRESH_TOKEN_SECONDS must be positive"):
        load_settings({"FANFARE_REFRESH_TOKEN_SECONDS": "0"})


def test_the_outbox_relay_is_on_unless_turned_off() -> None:
    assert load_settings({}).outbox_relay is True
    for off in ("false", "0", "no", "OFF"):
        assert load_settings({"FANFARE_OUTBOX_RELAY": off}).outbox_relay is False
    assert load_settings({"FANFARE_OUTBOX_RELAY": "true"}).outbox_relay is True
    with pytest.raises(SettingsError, match="FANFARE_OUTBOX_RELAY='maybe' is not true or false"):
        load_settings({"FANFARE_OUTBOX_RELAY": "maybe"})
