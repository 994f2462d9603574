"""Steps the suites share (register, log in, log out, pay), written against the data-testid
contract of azora/standin/pages.py, so the suites read as user stories and run unchanged
against the real web app.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date

from playwright.sync_api import Locator, Page, expect

# The payment provider's test cards: the first is always accepted, the second always declined.
TEST_CARD_OK = "4242 4242 4242 4242"
TEST_CARD_DECLINED = "4000 0000 0000 0002"


@dataclass(frozen=True)
class Account:
    name: str
    email: str
    password: str


def new_account() -> Account:
    """A fresh account per test: tests stay independent and can run against a shared environment."""
    tag = uuid.uuid4().hex[:10]
    return Account(name=f"E2E Learner {tag}", email=f"e2e-{tag}@azora.test", password=f"pw-{tag}-Secret!")


def register(page: Page, account: Account | None = None) -> Account:
    """Create an account through the form; the app signs the new user in."""
    account = account or new_account()
    page.goto("/register")
    page.get_by_test_id("register-name").fill(account.name)
    page.get_by_test_id("register-email").fill(account.email)
    page.get_by_test_id("register-password").fill(account.password)
    page.get_by_test_id("register-submit").click()
    expect(page.get_by_test_id("user-name")).to_have_text(account.name)
    return account


def log_in(page: Page, email: str, password: str) -> None:
    """Submit the login form (the caller checks the outcome)."""
    page.goto("/login")
    page.get_by_test_id("login-email").fill(email)
    page.get_by_test_id("login-password").fill(password)
    page.get_by_test_id("login-submit").click()


def log_out(page: Page) -> None:
    page.get_by_test_id("logout-button").click()
    expect(page.get_by_test_id("nav-login")).to_be_visible()


def course_cards(page: Page, free: bool) -> Locator:
    """Catalogue cards of free (price "Free") or paid courses."""
    page.goto("/courses")
    cards = page.get_by_test_id("course-card")
    price_free = page.get_by_test_id("course-price").filter(has_text=re.compile(r"^\s*Free\s*$"))
    return cards.filter(has=price_free) if free else cards.filter(has_not=price_free)


def open_first_course(page: Page, free: bool) -> str:
    """Open the first free or paid course's details; returns its title."""
    card = course_cards(page, free).first
    title = card.get_by_test_id("course-link").inner_text().strip()
    card.get_by_test_id("course-link").click()
    expect(page.get_by_test_id("course-title")).to_have_text(title)
    return title


def add_paid_course_to_cart(page: Page) -> str:
    title = open_first_course(page, free=False)
    page.get_by_test_id("add-to-cart").click()
    expect(page.get_by_test_id("cart-item").filter(has_text=title)).to_be_visible()
    return title


def pay(page: Page, card_number: str) -> None:
    """From the cart: checkout and submit the card (the caller checks the outcome)."""
    page.get_by_test_id("checkout-link").click()
    page.get_by_test_id("card-name").fill("E2E Learner")
    page.get_by_test_id("card-number").fill(card_number)
    page.get_by_test_id("card-expiry").fill(f"12/{(date.today().year + 2) % 100:02d}")
    page.get_by_test_id("card-cvc").fill("123")
    page.get_by_test_id("pay-button").click()
