"""Lists of dispatcher addresses: parsing them, moving along them, a standby's leader."""

from __future__ import annotations

import logging
import urllib.request

import pytest

from corral_client.addresses import (
    Addresses,
    KeepMethodRedirects,
    build_opener,
    delivered_maybe,
    normalize_urls,
    split_urls,
)
from corral_client.discovery import find_dispatcher, master_url
from dispatcher.protocol import Refused
from renderclient.dispatchers import (
    DispatcherList,
    format_address,
    from_standby,
    leader_named,
    parse_addresses,
)
from renderclient.main import ClientOptions


def test_split_urls_normalizes_each_and_drops_repeats() -> None:
    assert split_urls(" farm1:9890/, https://farm2 ,,farm1:9890") == [
        "http://farm1:9890",
        "https://farm2",
    ]
    assert normalize_urls("a:1,b:2") == "http://a:1,http://b:2"
    with pytest.raises(ValueError, match="no dispatcher address"):
        split_urls(" , ")


def test_find_dispatcher_keeps_a_list() -> None:
    env = {"CORRAL_DISPATCHER": "farm1:9890,farm2:9890"}
    assert find_dispatcher(None, env) == "http://farm1:9890,http://farm2:9890"
    assert find_dispatcher("x:1, y:2", env) == "http://x:1,http://y:2"
    assert find_dispatcher(",", {}) == "http://127.0.0.1:9890"


def test_master_url_takes_a_list_of_hosts() -> None:
    env = {"SMEDGE_MASTER": "farm1,farm2:7000", "SMEDGE_PORT": "6870"}
    assert master_url("SMEDGE_MASTER", "SMEDGE_PORT", env) == (
        "http://farm1:6870,http://farm2:7000"
    )
    with pytest.raises(ValueError, match="SMEDGE_MASTER"):
        master_url("SMEDGE_MASTER", None, {"SMEDGE_MASTER": "farm1,farm2:"})


def test_addresses_go_round() -> None:
    addresses = Addresses(["http://a", "http://b", "http://c"])
    assert addresses.current == "http://a"
    assert [addresses.advance() for _ in range(4)] == [
        "http://b",
        "http://c",
        "http://a",
        "http://b",
    ]
    assert len(addresses) == 3 and addresses.joined() == "http://a,http://b,http://c"
    with pytest.raises(ValueError):
        Addresses([])


def test_only_urllib_wrapped_errors_count_as_not_delivered() -> None:
    assert not delivered_maybe(urllib.error.URLError(ConnectionRefusedError()))
    assert delivered_maybe(ConnectionResetError())
    assert delivered_maybe(TimeoutError())


def test_a_307_keeps_method_headers_and_body() -> None:
    request = urllib.request.Request(
        "http://standby/api/v1/jobs/", data=b'{"a": 1}', method="POST",
        headers={"Authorization": "Bearer t", "Idempotency-Key": "k"},
    )  # fmt: skip
    handler = KeepMethodRedirects()
    moved = handler.redirect_request(
        request, None, 307, "Temporary", {}, "http://leader/api/v1/jobs/"
    )
    assert moved is not None
    assert (moved.get_method(), moved.full_url, moved.data) == (
        "POST",
        "http://leader/api/v1/jobs/",
        b'{"a": 1}',
    )
    assert moved.get_header("Authorization") == "Bearer t"
    assert moved.get_header("Idempotency-key") == "k"
    streamed = urllib.request.Request("http://standby/x", data=iter([b"a"]), method="POST")
    with pytest.raises(urllib.error.HTTPError, match="streamed body"):
        handler.redirect_request(streamed, None, 307, "Temporary", {}, "http://leader/x")


def test_opener_has_quick_connects_only_for_several_addresses() -> None:
    def kinds(opener: urllib.request.OpenerDirector) -> set[str]:
        return {type(handler).__name__ for handler in opener.handlers}

    assert "QuickConnectHTTP" in kinds(build_opener(["http://a", "http://b"]))
    assert "QuickConnectHTTP" not in kinds(build_opener(["http://a"]))
    assert "KeepMethodRedirects" in kinds(build_opener(["http://a"]))


def test_parse_render_addresses() -> None:
    assert parse_addresses("farm1:9681, farm2,[::1]:7,farm1:9681", 9681) == [
        ("farm1", 9681),
        ("farm2", 9681),
        ("::1", 7),
    ]
    for bad in (",", "farm:0", ":1,farm"):
        with pytest.raises(ValueError):
            parse_addresses(bad, 9681)
    assert format_address(("::1", 7)) == "[::1]:7"


def test_a_standbys_refusal_names_the_leader() -> None:
    refusal = Refused("this dispatcher is a standby; leader=farm2:9681")
    assert leader_named(refusal, refusal.reason) == ("farm2", 9681)
    assert leader_named(refusal, "standby, leader [fd00::2]:9681") == ("fd00::2", 9681)

    class WithField:
        leader = "farm3:9700"

    assert leader_named(WithField(), "standby") == ("farm3", 9700)
    assert leader_named(Refused("node key not proved"), "node key not proved") is None
    assert leader_named(Refused("x"), "leader=farm") is None  # no port: not an address
    waiting = "this dispatcher is a standby and no leader is known yet; try again"
    assert leader_named(Refused(waiting), waiting) is None and from_standby(waiting)
    assert not from_standby("node alpha is registered with a node key this client did not prove")


def test_dispatcher_list_switches_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    dispatchers = DispatcherList([("a", 1), ("b", 2)], "node=n instance=0")
    with caplog.at_level(logging.WARNING, logger="renderclient.dispatchers"):
        assert dispatchers.advance("unreachable") == ("b", 2)
        assert dispatchers.advance("unreachable") == ("a", 1)
        assert dispatchers.go_to(("leader", 3), "standby") == ("leader", 3)
        assert dispatchers.advance("unreachable") == ("a", 1)  # back where it left the list
        assert dispatchers.go_to(("b", 2), "standby") == ("b", 2)
    switches = [r.getMessage() for r in caplog.records if "dispatcher_switch" in r.getMessage()]
    assert switches[0] == (
        "action=dispatcher_switch node=n instance=0 from=a:1 to=b:2 reason=unreachable"
    )
    assert len(switches) == 5
    with pytest.raises(ValueError):
        DispatcherList([], "x")


def test_client_options_hold_the_other_dispatchers() -> None:
    options = ClientOptions(
        host="a",
        port=1,
        name="n",
        secret=b"s",
        more_dispatchers=[("b", 2)],  # type: ignore[arg-type]
    )
    assert options.dispatchers == (("a", 1), ("b", 2))
    with pytest.raises(ValueError, match="not valid"):
        ClientOptions(host="a", name="n", secret=b"s", more_dispatchers=(("b", 0),))
