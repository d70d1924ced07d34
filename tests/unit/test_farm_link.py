"""FarmLink: the dispatcher another farm's variables name, failing with that farm's error."""

import pytest

from corral_client.farm_link import FarmLink


class FarmError(RuntimeError):
    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


LINK = FarmLink("FARM_MASTER", "FARM_PORT", "FARM_TIMEOUT", FarmError, 12.0)


def test_the_variables_name_the_dispatcher_and_the_timeout() -> None:
    client = LINK.client({"FARM_MASTER": "render-a", "FARM_PORT": "9999", "FARM_TIMEOUT": "3"})
    assert client.url == "http://render-a:9999"
    assert client.timeout_s == 3.0


def test_unset_variables_fall_back_to_corral_and_the_default_timeout() -> None:
    client = LINK.client({"CORRAL_DISPATCHER": "http://farm:1234"})
    assert client.url == "http://farm:1234"
    assert client.timeout_s == 12.0


@pytest.mark.parametrize(
    "env",
    [
        {"FARM_MASTER": "render-a", "FARM_PORT": "http"},
        {"FARM_MASTER": "render-a:70000"},
        {"FARM_TIMEOUT": "soon"},
        {"FARM_TIMEOUT": "0"},
        {"FARM_TIMEOUT": "-5"},
    ],
)
def test_a_bad_setting_raises_the_farms_error(env: dict[str, str]) -> None:
    with pytest.raises(FarmError) as caught:
        LINK.client(env)
    assert caught.value.status == 0
    assert str(caught.value)
