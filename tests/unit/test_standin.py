"""The stand-in app itself: pages, sessions, payments, health, switches, bounded lifetime."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import date

import pytest
import requests

from azora.standin import AZORA_SERVICES, CARD_DECLINED, CARD_OK, StandIn, run_standin
from azora.standin.state import PaymentError, ServiceInfo, State, Switches, default_services, luhn_ok


@pytest.fixture
def standin() -> Iterator[StandIn]:
    with run_standin(lifetime=60) as running:
        yield running


def _get(standin: StandIn, path: str, session: requests.Session | None = None) -> requests.Response:
    return (session or requests).get(standin.base_url + path, timeout=5, allow_redirects=False)


def _signed_in(standin: StandIn) -> requests.Session:
    session = requests.Session()
    response = session.post(
        f"{standin.base_url}/register",
        data={"name": "Ada", "email": "ada@azora.test", "password": "correct-horse"},
        timeout=5,
        allow_redirects=False,
    )
    assert response.status_code == 303 and "azora_session" in session.cookies
    return session


# --------------------------------------------------------------------------- health and switches


def test_every_service_has_a_health_endpoint(standin: StandIn) -> None:
    for service in AZORA_SERVICES:
        body = _get(standin, f"/{service}/health").json()
        assert body == {"service": service, "status": "ok", "version": "1.0.0", "colour": "blue", "role": "active"}
    assert _get(standin, "/web/api/health").status_code == 200  # web's own healthPath
    assert _get(standin, "/nope/health").status_code == 404


def test_preview_health_reports_the_idle_colour(standin: StandIn) -> None:
    body = _get(standin, "/auth-preview/health").json()
    assert (body["colour"], body["version"], body["role"]) == ("green", "1.1.0", "preview")


def test_unhealthy_per_service_then_all_then_healthy_again(standin: StandIn) -> None:
    standin.set(unhealthy={"payment"})
    assert _get(standin, "/payment/health").status_code == 500
    assert _get(standin, "/auth/health").status_code == 200
    standin.set(unhealthy="all")
    assert all(_get(standin, f"/{s}/health").status_code == 500 for s in AZORA_SERVICES)
    standin.set(unhealthy=None)
    assert _get(standin, "/payment/health").status_code == 200


def test_flaky_counts_down_and_hits_are_counted(standin: StandIn) -> None:
    standin.set(flaky={"auth": 2})
    assert [_get(standin, "/auth/health").status_code for _ in range(3)] == [503, 503, 200]
    assert standin.health_hits("auth") == 3 and standin.health_hits("web") == 0


def test_switches_over_http_for_other_processes(standin: StandIn) -> None:
    url = f"{standin.base_url}/__standin/switches"
    response = requests.post(url, data=json.dumps({"unhealthy": ["auth"], "login_broken": True}), timeout=5)
    assert response.status_code == 200
    assert standin.switches.unhealthy == frozenset({"auth"}) and standin.switches.login_broken
    assert requests.get(url, timeout=5).json()["unhealthy"] == ["auth"]
    assert requests.post(url, data='{"bogus": 1}', timeout=5).status_code == 400


def test_unknown_switch_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown stand-in switch"):
        Switches().with_changes(login_borken=True)
    with pytest.raises(ValueError), run_standin(lifetime=5, health_500=True):
        pass


def test_services_are_configurable() -> None:
    services = {"auth": ServiceInfo(versions={"blue": "2.0.0", "green": "2.1.0"}, active_colour="green")}
    with run_standin(services, lifetime=30) as standin:
        assert _get(standin, "/auth/health").json()["version"] == "2.1.0"
        assert _get(standin, "/auth-preview/health").json()["colour"] == "blue"
        assert _get(standin, "/web/api/health").status_code == 404


# --------------------------------------------------------------------------- lifecycle


def test_server_stops_when_the_block_exits() -> None:
    with run_standin(lifetime=30) as standin:
        url = standin.base_url
        assert requests.get(url, timeout=5).status_code == 200
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=2)


def test_lifetime_bounds_a_forgotten_server() -> None:
    with run_standin(lifetime=0.3) as standin:
        deadline = time.monotonic() + 10  # a bound for a loaded machine; the lifetime is 0.3 s
        while True:
            try:
                requests.get(standin.base_url, timeout=2)
            except requests.ConnectionError:
                break
            assert time.monotonic() < deadline, "still serving 10 s after a 0.3 s lifetime"
            time.sleep(0.1)


# --------------------------------------------------------------------------- pages and sessions


def test_pages_carry_the_selector_contract(standin: StandIn) -> None:
    home = _get(standin, "/").text
    assert 'data-testid="nav-courses"' in home and 'data-testid="nav-login"' in home
    catalogue = _get(standin, "/courses").text
    assert catalogue.count('data-testid="course-card"') == 4 and ">Free<" in catalogue
    details = _get(standin, "/courses/intro-to-python").text
    assert 'data-testid="enroll-button"' in details and 'data-testid="lesson-list"' in details
    assert 'data-testid="add-to-cart"' in _get(standin, "/courses/ux-design").text
    assert _get(standin, "/courses/missing").status_code == 404
    assert len(_get(standin, "/api/courses").json()) == 4


def test_register_login_logout(standin: StandIn) -> None:
    session = _signed_in(standin)
    assert 'data-testid="user-name">Ada<' in _get(standin, "/", session).text
    assert session.post(f"{standin.base_url}/logout", timeout=5, allow_redirects=False).status_code == 303
    assert 'data-testid="nav-login"' in _get(standin, "/", session).text
    login = session.post(
        f"{standin.base_url}/login",
        data={"email": "ADA@azora.test", "password": "correct-horse", "next": "/my/courses"},
        timeout=5,
        allow_redirects=False,
    )
    assert login.status_code == 303 and login.headers["Location"] == "/my/courses"


def test_register_rejects_bad_input(standin: StandIn) -> None:
    _signed_in(standin)
    again = requests.post(
        f"{standin.base_url}/register",
        data={"name": "Ada", "email": "ada@azora.test", "password": "correct-horse"},
        timeout=5,
    )
    assert again.status_code == 400 and "already exists" in again.text
    short = requests.post(
        f"{standin.base_url}/register", data={"name": "B", "email": "b@x.y", "password": "1"}, timeout=5
    )
    assert short.status_code == 400 and "at least 8" in short.text


def test_invalid_credentials_and_broken_login(standin: StandIn) -> None:
    _signed_in(standin)
    url = f"{standin.base_url}/login"
    wrong = requests.post(url, data={"email": "ada@azora.test", "password": "nope"}, timeout=5)
    assert wrong.status_code == 401 and "Invalid email or password." in wrong.text
    standin.set(login_broken=True)
    broken = requests.post(url, data={"email": "ada@azora.test", "password": "correct-horse"}, timeout=5)
    assert broken.status_code == 500 and "azora_session" not in broken.cookies


def test_next_is_never_an_open_redirect(standin: StandIn) -> None:
    session = _signed_in(standin)
    response = session.post(
        f"{standin.base_url}/login",
        data={"email": "ada@azora.test", "password": "correct-horse", "next": "//evil.example/"},
        timeout=5,
        allow_redirects=False,
    )
    assert response.headers["Location"] == "/"


def test_enrol_in_a_free_course_and_open_it(standin: StandIn) -> None:
    anonymous = requests.post(f"{standin.base_url}/courses/intro-to-python/enroll", timeout=5, allow_redirects=False)
    assert anonymous.headers["Location"].startswith("/login")
    session = _signed_in(standin)
    assert _get(standin, "/learn/intro-to-python", session).status_code == 403
    session.post(f"{standin.base_url}/courses/intro-to-python/enroll", timeout=5)
    player = _get(standin, "/learn/intro-to-python", session)
    assert player.status_code == 200 and 'data-testid="course-player"' in player.text
    paid = session.post(f"{standin.base_url}/courses/ux-design/enroll", timeout=5)
    assert paid.status_code == 402


def _cart_with_paid_course(standin: StandIn) -> requests.Session:
    session = _signed_in(standin)
    cart = session.post(f"{standin.base_url}/cart", data={"course_id": "data-science-pro"}, timeout=5)
    assert 'data-testid="cart-item"' in cart.text and "$49.00" in cart.text
    return session


def _pay(standin: StandIn, session: requests.Session, card: str) -> requests.Response:
    data = {"card": card, "expiry": f"12/{(date.today().year + 1) % 100:02d}", "cvc": "123"}
    return session.post(f"{standin.base_url}/checkout", data=data, timeout=5)


def test_test_card_pays_and_enrols(standin: StandIn) -> None:
    session = _cart_with_paid_course(standin)
    response = _pay(standin, session, "4242 4242 4242 4242")
    assert response.status_code == 200 and 'data-testid="payment-success"' in response.text
    assert "/orders/ord_" in response.url
    assert _get(standin, "/learn/data-science-pro", session).status_code == 200
    assert 'data-testid="cart-empty"' in _get(standin, "/cart", session).text


def test_declined_card_keeps_the_cart(standin: StandIn) -> None:
    session = _cart_with_paid_course(standin)
    response = _pay(standin, session, "4000 0000 0000 0002")
    assert response.status_code == 402 and "Your card was declined." in response.text
    assert 'data-testid="cart-item"' in _get(standin, "/cart", session).text


def test_payment_declined_switch_declines_the_good_card(standin: StandIn) -> None:
    session = _cart_with_paid_course(standin)
    standin.set(payment_declined=True)
    assert _pay(standin, session, CARD_OK).status_code == 402
    standin.set(payment_declined=False)
    assert _pay(standin, session, CARD_OK).status_code == 200


def test_card_validation() -> None:
    assert luhn_ok(CARD_OK) and luhn_ok(CARD_DECLINED) and not luhn_ok("4242424242424241")
    state = State(default_services(), Switches())
    state.register("Ada", "ada@azora.test", "correct-horse")
    user = state.user(state.login("ada@azora.test", "correct-horse"))
    assert user is not None
    for card, expiry, cvc, message in (
        ("1234", "12/30", "123", "Card number is invalid."),
        (CARD_OK, "13/30", "123", "Expiry must be MM/YY."),
        (CARD_OK, "01/20", "123", "Your card has expired."),
        (CARD_OK, "12/30", "12", "Security code must be 3 or 4 digits."),
        (CARD_OK, "12/30", "123", "Your cart is empty."),
    ):
        with pytest.raises(PaymentError, match=message):
            state.pay(user, card, expiry, cvc, today=date(2026, 1, 1))


def test_a_client_hanging_up_is_not_reported_as_a_server_error(capsys: pytest.CaptureFixture[str]) -> None:
    """socketserver prints a traceback for any error in a request; a client that closed its end
    before the answer (a timed-out check) is not one, and must not pollute the output."""
    with run_standin(lifetime=30) as standin:
        server = standin._server  # the running ThreadingHTTPServer
        try:
            raise BrokenPipeError(32, "Broken pipe")
        except BrokenPipeError:
            server.handle_error(None, ("127.0.0.1", 1))
        assert capsys.readouterr().err == ""
        try:
            raise ValueError("a real bug in a handler")
        except ValueError:
            server.handle_error(None, ("127.0.0.1", 1))
        assert "ValueError: a real bug in a handler" in capsys.readouterr().err
