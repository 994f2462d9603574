"""HTTP front of the stand-in: stdlib `ThreadingHTTPServer` on 127.0.0.1, in a daemon thread.

Routes (GET unless noted):
  /                         home            /register, POST /register
  /login, POST /login       (cookie session) POST /logout
  /courses, /courses/<id>   catalogue, details; POST /courses/<id>/enroll (free courses)
  /learn/<id>               open an enrolled course; /my/courses
  /cart, POST /cart         cart, add (course_id)
  /checkout, POST /checkout pay (card, expiry, cvc)   /orders/<id> confirmation
  /api/courses[/<id>]       the catalogue as JSON
  /<service>[-preview]<healthPath> and /<service>[-preview]/health: health JSON
  GET/POST /__standin/switches  read / change the switches (JSON), for runs from other processes
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http import HTTPStatus
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from azora.standin import pages
from azora.standin.state import COURSES, PaymentError, ServiceInfo, State, Switches, User, default_services

COOKIE = "azora_session"
DEFAULT_LIFETIME_SECONDS = 900.0
MAX_BODY_BYTES = 64 * 1024


class StandIn:
    """A running stand-in: `base_url`, `set(**switches)`, `switches`, `health_hits(service)`."""

    def __init__(self, server: ThreadingHTTPServer, state: State) -> None:
        self._server = server
        self.state = state
        self.base_url = f"http://127.0.0.1:{server.server_address[1]}"

    def set(self, **switches: Any) -> Switches:
        """Change switches at run time, e.g. `set(unhealthy={"payment"})` or `set(login_broken=False)`."""
        return self.state.set_switches(**switches)

    @property
    def switches(self) -> Switches:
        return self.state.switches

    def health_hits(self, service: str) -> int:
        """Health requests seen for `service` (`auth-preview` for its preview)."""
        return self.state.health_hits(service)


@contextmanager
def run_standin(
    services: dict[str, ServiceInfo] | None = None,
    lifetime: float = DEFAULT_LIFETIME_SECONDS,
    **switches: Any,
) -> Iterator[StandIn]:
    """Serve the stand-in on a free port of 127.0.0.1 until the block exits.

    `lifetime` bounds the server's life even if the block never exits (a hung test), so no
    server outlives a test run for long.
    """
    state = State(services or default_services(), Switches().with_changes(**switches))
    # Port 0: the kernel picks a free port at bind time, so parallel runs cannot collide.
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    watchdog = threading.Timer(lifetime, _stop, args=(server,))
    watchdog.daemon = True
    thread.start()
    watchdog.start()
    try:
        yield StandIn(server, state)
    finally:
        watchdog.cancel()
        _stop(server)
        thread.join(timeout=5)


def _stop(server: ThreadingHTTPServer) -> None:
    """Stop serving and close the listening socket, so clients get "refused", not a hang."""
    server.shutdown()  # returns at once when already stopped (the watchdog fired first)
    server.server_close()


Reply = tuple[int, str, dict[str, str]]  # status, HTML or JSON text, extra headers


def _handler_for(state: State) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        pass

    Handler.state = state
    return Handler


class _Handler(BaseHTTPRequestHandler):
    state: State
    server_version = "AzoraStandIn/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # quiet: pytest output is for test results

    # ------------------------------------------------------------------ plumbing

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        path = urlsplit(self.path).path
        try:
            health = self._health_route(method, path)
            if health is not None:
                self._send(*health)
                return
            for route_method, pattern, handler in ROUTES:
                match = pattern.fullmatch(path)
                if match and route_method == method:
                    self._send(*handler(self, *match.groups()))
                    return
            self._send(*self._page(HTTPStatus.NOT_FOUND, "Not found", pages.message_page("Not found", path)))
        except Exception as exc:  # a stand-in bug must show as a 500 page, not a dropped connection
            self._send(500, f"stand-in error: {type(exc).__name__}: {exc}", {"Content-Type": "text/plain"})

    def _send(self, status: int, text: str, headers: dict[str, str]) -> None:
        body = text.encode("utf-8")
        self.send_response(status)
        headers = {"Content-Type": "text/html; charset=utf-8", **headers}
        for key, value in headers.items():
            if key == "Set-Cookie":
                for cookie in value.split("\n"):
                    self.send_header("Set-Cookie", cookie)
            else:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _form(self) -> dict[str, str]:
        length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY_BYTES)
        raw = self.rfile.read(length).decode("utf-8", "replace")
        return {key: values[0] for key, values in parse_qs(raw, keep_blank_values=True).items()}

    def _token(self) -> str | None:
        cookie = SimpleCookie(self.headers.get("Cookie") or "")
        morsel = cookie.get(COOKIE)
        return morsel.value if morsel else None

    def _user(self) -> User | None:
        return self.state.user(self._token())

    def _query(self, key: str) -> str | None:
        values = parse_qs(urlsplit(self.path).query).get(key)
        return values[0] if values else None

    def _page(self, status: int, title: str, body: str, notice: str | None = None) -> Reply:
        user = self._user()
        count = len(self.state.cart(user)) if user else 0
        return status, pages.layout(title, body, user, count, notice), {}

    @staticmethod
    def _redirect(location: str, cookie: str | None = None) -> Reply:
        headers = {"Location": location}
        if cookie is not None:
            headers["Set-Cookie"] = cookie
        return HTTPStatus.SEE_OTHER, "", headers

    def _login_redirect(self) -> Reply:
        return self._redirect(f"/login?next={quote(urlsplit(self.path).path)}")

    # ------------------------------------------------------------------ health

    def _health_route(self, method: str, path: str) -> Reply | None:
        """Health JSON for `/<service>[-preview]<healthPath>` and `/<service>[-preview]/health`."""
        if method != "GET":
            return None
        first, _, rest = path.lstrip("/").partition("/")
        service, preview = (first[: -len("-preview")], True) if first.endswith("-preview") else (first, False)
        info = self.state.services.get(service)
        if info is None or f"/{rest}" not in (info.health_path, "/health"):
            return None
        status, body, delay = self.state.health(service, preview)
        if delay:
            time.sleep(delay)
        return status, json.dumps(body), {"Content-Type": "application/json"}

    # ------------------------------------------------------------------ pages

    def home(self) -> Reply:
        notice = "You have been logged out." if self._query("logged_out") else None
        return self._page(200, "Home", pages.home(self._user()), notice)

    def register_page(self) -> Reply:
        return self._page(200, "Register", pages.register_form())

    def register(self) -> Reply:
        form = self._form()
        try:
            token = self.state.register(form.get("name", ""), form.get("email", ""), form.get("password", ""))
        except ValueError as exc:
            body = pages.register_form(str(exc), form.get("name", ""), form.get("email", ""))
            return self._page(HTTPStatus.BAD_REQUEST, "Register", body)
        return self._redirect("/?welcome=1", _session_cookie(token))

    def login_page(self) -> Reply:
        return self._page(200, "Log in", pages.login_form(next_path=_safe_next(self._query("next"))))

    def login(self) -> Reply:
        form = self._form()
        next_path = _safe_next(form.get("next"))
        if self.state.switches.login_broken:
            body = pages.login_form("Sign-in is temporarily unavailable.", form.get("email", ""), next_path)
            return self._page(HTTPStatus.INTERNAL_SERVER_ERROR, "Log in", body)
        token = self.state.login(form.get("email", ""), form.get("password", ""))
        if token is None:
            body = pages.login_form("Invalid email or password.", form.get("email", ""), next_path)
            return self._page(HTTPStatus.UNAUTHORIZED, "Log in", body)
        return self._redirect(next_path, _session_cookie(token))

    def logout(self) -> Reply:
        self.state.logout(self._token())
        return self._redirect("/?logged_out=1", f"{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax")

    def courses(self) -> Reply:
        return self._page(200, "Courses", pages.catalogue(list(COURSES.values())))

    def course(self, course_id: str) -> Reply:
        course = COURSES.get(course_id)
        if course is None:
            return self._page(404, "Not found", pages.message_page("Course not found", course_id))
        notice = "You are enrolled." if self._query("enrolled") else None
        return self._page(200, course.title, pages.course_details(course, self._user()), notice)

    def enroll(self, course_id: str) -> Reply:
        user, course = self._user(), COURSES.get(course_id)
        if course is None:
            return self._page(404, "Not found", pages.message_page("Course not found", course_id))
        if user is None:
            return self._redirect(f"/login?next=/courses/{quote(course_id)}")
        try:
            self.state.enrol_free(user, course)
        except PaymentError as exc:
            return self._page(HTTPStatus.PAYMENT_REQUIRED, course.title, pages.message_page(course.title, str(exc)))
        return self._redirect(f"/courses/{quote(course_id)}?enrolled=1")

    def learn(self, course_id: str) -> Reply:
        user, course = self._user(), COURSES.get(course_id)
        if course is None:
            return self._page(404, "Not found", pages.message_page("Course not found", course_id))
        if user is None:
            return self._login_redirect()
        if course_id not in user.enrolled:
            return self._page(
                403, course.title, pages.message_page(course.title, "You are not enrolled in this course.")
            )
        return self._page(200, course.title, pages.player(course))

    def my_courses(self) -> Reply:
        user = self._user()
        if user is None:
            return self._login_redirect()
        return self._page(200, "My courses", pages.my_courses([COURSES[c] for c in sorted(user.enrolled)]))

    def cart_page(self) -> Reply:
        user = self._user()
        if user is None:
            return self._login_redirect()
        return self._page(200, "Cart", pages.cart(self.state.cart(user)))

    def add_to_cart(self) -> Reply:
        user = self._user()
        course = COURSES.get(self._form().get("course_id", ""))
        if user is None:
            return self._redirect(f"/login?next=/courses/{quote(course.id)}" if course else "/login")
        if course is None:
            return self._page(400, "Cart", pages.message_page("Cart", "Unknown course."))
        self.state.add_to_cart(user, course)
        return self._redirect("/cart")

    def checkout_page(self) -> Reply:
        user = self._user()
        if user is None:
            return self._login_redirect()
        items = self.state.cart(user)
        if not items:
            return self._redirect("/cart")
        return self._page(200, "Checkout", pages.checkout(items))

    def pay(self) -> Reply:
        user = self._user()
        if user is None:
            return self._login_redirect()
        form = self._form()
        try:
            order = self.state.pay(user, form.get("card", ""), form.get("expiry", ""), form.get("cvc", ""))
        except PaymentError as exc:
            body = pages.checkout(self.state.cart(user), str(exc))
            return self._page(HTTPStatus.PAYMENT_REQUIRED, "Checkout", body)
        return self._redirect(f"/orders/{order.id}")

    def order(self, order_id: str) -> Reply:
        user = self._user()
        if user is None:
            return self._login_redirect()
        order = self.state.order(order_id, user)
        if order is None:
            return self._page(404, "Not found", pages.message_page("Order not found", order_id))
        body = pages.order_confirmation(order, [COURSES[c] for c in order.course_ids])
        return self._page(200, "Payment successful", body)

    # ------------------------------------------------------------------ JSON API and admin

    def api_courses(self) -> Reply:
        return _json(200, [_course_json(c) for c in COURSES.values()])

    def api_course(self, course_id: str) -> Reply:
        course = COURSES.get(course_id)
        return _json(200, _course_json(course)) if course else _json(404, {"error": "course not found"})

    def get_switches(self) -> Reply:
        return _json(200, self.state.switches.as_dict())

    def post_switches(self) -> Reply:
        length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY_BYTES)
        try:
            changes = json.loads(self.rfile.read(length) or b"{}")
            switches = self.state.set_switches(**changes)
        except (ValueError, TypeError) as exc:
            return _json(400, {"error": str(exc)})
        return _json(200, switches.as_dict())


def _json(status: int, data: Any) -> Reply:
    return status, json.dumps(data), {"Content-Type": "application/json"}


def _course_json(course: Any) -> dict[str, Any]:
    return {"id": course.id, "title": course.title, "priceCents": course.price_cents, "free": course.free}


def _session_cookie(token: str) -> str:
    return f"{COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax"


def _safe_next(value: str | None) -> str:
    """Only same-site paths: `next=//evil.example` must not become an open redirect."""
    if value and value.startswith("/") and not value.startswith("//"):
        return value
    return "/"


Route = tuple[str, "re.Pattern[str]", Callable[..., Reply]]
_ID = r"([a-z0-9-]+)"
ROUTES: list[Route] = [
    (method, re.compile(pattern), handler)
    for method, pattern, handler in (
        ("GET", r"/", _Handler.home),
        ("GET", r"/register", _Handler.register_page),
        ("POST", r"/register", _Handler.register),
        ("GET", r"/login", _Handler.login_page),
        ("POST", r"/login", _Handler.login),
        ("POST", r"/logout", _Handler.logout),
        ("GET", r"/courses", _Handler.courses),
        ("GET", rf"/courses/{_ID}", _Handler.course),
        ("POST", rf"/courses/{_ID}/enroll", _Handler.enroll),
        ("GET", rf"/learn/{_ID}", _Handler.learn),
        ("GET", r"/my/courses", _Handler.my_courses),
        ("GET", r"/cart", _Handler.cart_page),
        ("POST", r"/cart", _Handler.add_to_cart),
        ("GET", r"/checkout", _Handler.checkout_page),
        ("POST", r"/checkout", _Handler.pay),
        ("GET", r"/orders/(ord_[0-9a-f]+)", _Handler.order),
        ("GET", r"/api/courses", _Handler.api_courses),
        ("GET", rf"/api/courses/{_ID}", _Handler.api_course),
        ("GET", r"/__standin/switches", _Handler.get_switches),
        ("POST", r"/__standin/switches", _Handler.post_switches),
    )
]
