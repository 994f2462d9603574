"""The stand-in's pages and JSON APIs: one method per route, and `ROUTES`, the route table.

Routes (GET unless noted):
  /                         home            /register, POST /register
  /login, POST /login       (cookie session) POST /logout
  /courses, /courses/{id}   catalogue, details; POST /courses/{id}/enroll (free courses)
  /learn/{id}               open an enrolled course; /my/courses
  /cart, POST /cart         cart, add (course_id)
  /checkout, POST /checkout pay (card, expiry, cvc)   /orders/{order_id} confirmation
  /api/courses[/{id}]       the catalogue as JSON
  GET/POST /__standin/switches  read / change the switches (JSON), for runs from other processes

A route is written as its template (`/courses/{id}`): the template is what /metrics labels a
request with, and the pattern that matches paths is made from it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from http import HTTPStatus
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from azora.standin import pages
from azora.standin.state import COURSES, PaymentError, State, User

COOKIE = "azora_session"
MAX_BODY_BYTES = 64 * 1024
CONTROL_PREFIX = "/__standin/"  # the test controls: never subject to injected faults

Reply = tuple[int, str, dict[str, str]]  # status, HTML or JSON text, extra headers


class AppRoutes(BaseHTTPRequestHandler):
    """The pages and APIs of the Azora apps, on top of `State`; `server._Handler` dispatches."""

    state: State

    # ------------------------------------------------------------------ request helpers

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


Route = tuple[str, str, "re.Pattern[str]", Callable[..., Reply]]  # method, template, pattern, handler
_PARAMETERS = {"{id}": r"([a-z0-9-]+)", "{order_id}": r"(ord_[0-9a-f]+)"}


def _pattern(template: str) -> re.Pattern[str]:
    pattern = template
    for name, group in _PARAMETERS.items():
        pattern = pattern.replace(name, group)
    return re.compile(pattern)


ROUTES: list[Route] = [
    (method, template, _pattern(template), handler)
    for method, template, handler in (
        ("GET", "/", AppRoutes.home),
        ("GET", "/register", AppRoutes.register_page),
        ("POST", "/register", AppRoutes.register),
        ("GET", "/login", AppRoutes.login_page),
        ("POST", "/login", AppRoutes.login),
        ("POST", "/logout", AppRoutes.logout),
        ("GET", "/courses", AppRoutes.courses),
        ("GET", "/courses/{id}", AppRoutes.course),
        ("POST", "/courses/{id}/enroll", AppRoutes.enroll),
        ("GET", "/learn/{id}", AppRoutes.learn),
        ("GET", "/my/courses", AppRoutes.my_courses),
        ("GET", "/cart", AppRoutes.cart_page),
        ("POST", "/cart", AppRoutes.add_to_cart),
        ("GET", "/checkout", AppRoutes.checkout_page),
        ("POST", "/checkout", AppRoutes.pay),
        ("GET", "/orders/{order_id}", AppRoutes.order),
        ("GET", "/api/courses", AppRoutes.api_courses),
        ("GET", "/api/courses/{id}", AppRoutes.api_course),
        ("GET", "/__standin/switches", AppRoutes.get_switches),
        ("POST", "/__standin/switches", AppRoutes.post_switches),
    )
]


def match_route(method: str, path: str) -> tuple[str, Callable[..., Reply], tuple[str, ...]] | None:
    """(template, handler, path parameters) of the route for `method` and `path`, or None."""
    for route_method, template, pattern, handler in ROUTES:
        match = pattern.fullmatch(path)
        if match and route_method == method:
            return template, handler, match.groups()
    return None
