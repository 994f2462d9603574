"""The stand-in's data and rules: services, switches, users, sessions, courses, carts, payments.

Kept apart from HTTP so the rules (what a declined card is, who may open a course) read plainly
and the unit tests can check them without a server. All methods take the one lock: the HTTP
server handles requests on several threads.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

AZORA_SERVICES = ("web", "api-gateway", "auth", "education", "payment", "marketplace")
ALL = "all"

# Stripe's test cards, the ones the suites use: the first succeeds, the second is declined.
CARD_OK = "4242424242424242"
CARD_DECLINED = "4000000000000002"


@dataclass(frozen=True)
class ServiceInfo:
    """What one service's health endpoint reports, like a blue/green pair would."""

    versions: Mapping[str, str] = field(default_factory=lambda: {"blue": "1.0.0", "green": "1.1.0"})
    active_colour: str = "blue"
    health_path: str = "/health"

    @property
    def idle_colour(self) -> str:
        # azora.config's other_color, inlined: the stand-in runs without pydantic (its image)
        return "green" if self.active_colour == "blue" else "blue"


def default_services() -> dict[str, ServiceInfo]:
    """The six Azora services; web's health path is /api/health as in the stack files."""
    return {name: ServiceInfo(health_path="/api/health" if name == "web" else "/health") for name in AZORA_SERVICES}


def services_from_outputs(outputs: Mapping[str, Any]) -> dict[str, ServiceInfo]:
    """Mirror a stack's outputs (or `outputs_from_config`) so smoke's expectations hold."""
    from urllib.parse import urlsplit

    result = {}
    for name, record in outputs["services"].items():
        result[name] = ServiceInfo(
            versions=dict(record["versions"]),
            active_colour=record["activeColor"],
            health_path=urlsplit(record["healthUrl"]).path or "/health",
        )
    return result


@dataclass(frozen=True)
class Switches:
    """What to break. `unhealthy` holds service names or "all"; `flaky` counts failures to come."""

    unhealthy: frozenset[str] = frozenset()
    flaky: Mapping[str, int] = field(default_factory=dict)
    slow: Mapping[str, float] = field(default_factory=dict)
    login_broken: bool = False
    payment_declined: bool = False

    def with_changes(self, **changes: Any) -> Switches:
        unknown = set(changes) - set(self.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown stand-in switch(es): {', '.join(sorted(unknown))}")
        if "unhealthy" in changes:
            changes["unhealthy"] = _names(changes["unhealthy"])
        for key in ("flaky", "slow"):
            if key in changes:
                changes[key] = dict(changes[key] or {})
        for key in ("login_broken", "payment_declined"):
            if key in changes:
                changes[key] = bool(changes[key])
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return {
            "unhealthy": sorted(self.unhealthy),
            "flaky": dict(self.flaky),
            "slow": dict(self.slow),
            "login_broken": self.login_broken,
            "payment_declined": self.payment_declined,
        }


def _names(value: str | Iterable[str] | None) -> frozenset[str]:
    if value is None:
        return frozenset()
    if isinstance(value, str):
        return frozenset({value})
    return frozenset(value)


@dataclass(frozen=True)
class Course:
    id: str
    title: str
    description: str
    price_cents: int
    lessons: tuple[str, ...]

    @property
    def free(self) -> bool:
        return self.price_cents == 0


COURSES: dict[str, Course] = {
    c.id: c
    for c in (
        Course(
            "intro-to-python",
            "Introduction to Python",
            "Variables, loops and functions: your first programs, step by step.",
            0,
            ("Hello, Python", "Variables and types", "Loops", "Functions"),
        ),
        Course(
            "web-foundations",
            "Web Foundations",
            "How the web works: HTML, CSS and HTTP from first principles.",
            0,
            ("How a page loads", "HTML structure", "Styling with CSS"),
        ),
        Course(
            "data-science-pro",
            "Data Science Professional",
            "Statistics, pandas and machine learning for real data sets.",
            4900,
            ("Describing data", "Cleaning data", "Models and metrics"),
        ),
        Course(
            "ux-design",
            "UX Design Essentials",
            "Research, wireframes and usability testing.",
            2900,
            ("Knowing your users", "Wireframes", "Testing a design"),
        ),
    )
}


def money(cents: int) -> str:
    return "Free" if cents == 0 else f"${cents // 100}.{cents % 100:02d}"


@dataclass
class User:
    name: str
    email: str
    password_hash: str
    salt: bytes
    enrolled: set[str] = field(default_factory=set)
    cart: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Order:
    id: str
    email: str
    course_ids: tuple[str, ...]
    amount_cents: int
    card_last4: str


class PaymentError(Exception):
    """A payment that did not go through; the message is shown to the user."""


class State:
    """Everything the stand-in remembers, behind one lock."""

    def __init__(self, services: Mapping[str, ServiceInfo], switches: Switches) -> None:
        self._lock = threading.Lock()
        self.services = dict(services)
        self._switches = switches
        self._users: dict[str, User] = {}
        self._sessions: dict[str, str] = {}
        self._orders: dict[str, Order] = {}
        self._health_hits: dict[str, int] = {}

    # ---------------------------------------------------------------- switches and health

    @property
    def switches(self) -> Switches:
        with self._lock:
            return self._switches

    def set_switches(self, **changes: Any) -> Switches:
        with self._lock:
            self._switches = self._switches.with_changes(**changes)
            return self._switches

    def health(self, service: str, preview: bool) -> tuple[int, dict[str, Any], float]:
        """(HTTP status, JSON body, seconds to wait first) for one health request."""
        key = f"{service}-preview" if preview else service
        with self._lock:
            self._health_hits[key] = self._health_hits.get(key, 0) + 1
            switches = self._switches
            delay = float(switches.slow.get(service, 0.0))
            if service in switches.unhealthy or ALL in switches.unhealthy:
                return 500, {"service": service, "status": "fail", "error": "made unhealthy by a switch"}, delay
            remaining = switches.flaky.get(service, 0)
            if remaining > 0:
                # Count down so the service recovers after that many failures (retry tests).
                self._switches = replace(switches, flaky={**switches.flaky, service: remaining - 1})
                return 503, {"service": service, "status": "fail", "error": "starting up"}, delay
        info = self.services[service]
        colour = info.idle_colour if preview else info.active_colour
        body = {
            "service": service,
            "status": "ok",
            "version": info.versions.get(colour, "unknown"),
            "colour": colour,
            "role": "preview" if preview else "active",
        }
        return 200, body, delay

    def health_hits(self, service: str) -> int:
        with self._lock:
            return self._health_hits.get(service, 0)

    # ---------------------------------------------------------------- users and sessions

    def register(self, name: str, email: str, password: str) -> str:
        """Create a user and return a new session token; ValueError with a user-facing message."""
        name, email = name.strip(), email.strip().lower()
        if not name or not email or not password:
            raise ValueError("Name, email and password are required.")
        if "@" not in email:
            raise ValueError("Enter a valid email address.")
        if len(password) < 8:
            raise ValueError("Password must be at least 8 characters.")
        salt = secrets.token_bytes(16)
        with self._lock:
            if email in self._users:
                raise ValueError("An account with this email already exists.")
            self._users[email] = User(name, email, _hash(password, salt), salt)
            return self._new_session(email)

    def login(self, email: str, password: str) -> str | None:
        """A new session token, or None for wrong credentials."""
        email = email.strip().lower()
        with self._lock:
            user = self._users.get(email)
            if user is None or not secrets.compare_digest(user.password_hash, _hash(password, user.salt)):
                return None
            return self._new_session(email)

    def logout(self, token: str | None) -> None:
        with self._lock:
            self._sessions.pop(token or "", None)

    def user(self, token: str | None) -> User | None:
        with self._lock:
            email = self._sessions.get(token or "")
            return self._users.get(email) if email else None

    def _new_session(self, email: str) -> str:
        token = secrets.token_urlsafe(24)
        self._sessions[token] = email
        return token

    # ---------------------------------------------------------------- courses, cart, payment

    def enrol_free(self, user: User, course: Course) -> None:
        if not course.free:
            raise PaymentError("This course is not free: add it to your cart.")
        with self._lock:
            user.enrolled.add(course.id)

    def add_to_cart(self, user: User, course: Course) -> None:
        with self._lock:
            if course.id not in user.cart and course.id not in user.enrolled:
                user.cart.append(course.id)

    def cart(self, user: User) -> list[Course]:
        with self._lock:
            return [COURSES[c] for c in user.cart]

    def pay(self, user: User, card: str, expiry: str, cvc: str, today: date | None = None) -> Order:
        """Charge the cart; enrol in its courses. PaymentError says why it did not go through."""
        digits = "".join(card.split())
        _check_card(digits, expiry.strip(), cvc.strip(), today or date.today())
        with self._lock:
            if not user.cart:
                raise PaymentError("Your cart is empty.")
            if self._switches.payment_declined or digits == CARD_DECLINED:
                raise PaymentError("Your card was declined.")
            courses = tuple(user.cart)
            order = Order(
                id=f"ord_{secrets.token_hex(6)}",
                email=user.email,
                course_ids=courses,
                amount_cents=sum(COURSES[c].price_cents for c in courses),
                card_last4=digits[-4:],
            )
            self._orders[order.id] = order
            user.enrolled.update(courses)
            user.cart.clear()
            return order

    def order(self, order_id: str, user: User) -> Order | None:
        with self._lock:
            order = self._orders.get(order_id)
            return order if order is not None and order.email == user.email else None


def _hash(password: str, salt: bytes) -> str:
    # Few iterations: a stand-in, but still no clear-text passwords in memory dumps of tests.
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 1000).hex()


def luhn_ok(digits: str) -> bool:
    if not digits.isdigit() or not 12 <= len(digits) <= 19:
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _check_card(digits: str, expiry: str, cvc: str, today: date) -> None:
    if not luhn_ok(digits):
        raise PaymentError("Card number is invalid.")
    month, _, year = expiry.partition("/")
    if not (month.strip().isdigit() and year.strip().isdigit() and 1 <= int(month) <= 12):
        raise PaymentError("Expiry must be MM/YY.")
    full_year = 2000 + int(year) if len(year.strip()) == 2 else int(year)
    if (full_year, int(month)) < (today.year, today.month):
        raise PaymentError("Your card has expired.")
    if not (cvc.isdigit() and len(cvc) in (3, 4)):
        raise PaymentError("Security code must be 3 or 4 digits.")
