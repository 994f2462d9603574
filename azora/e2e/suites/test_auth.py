"""Auth suite: register, log in, invalid credentials, log out."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from azora.e2e.suites.flows import log_in, log_out, new_account, register

pytestmark = pytest.mark.e2e


def test_register_creates_an_account_and_signs_in(page: Page) -> None:
    account = register(page)
    expect(page.get_by_test_id("logout-button")).to_be_visible()
    expect(page.get_by_test_id("nav-login")).to_have_count(0)
    assert account.email  # the account exists for the other tests to reuse the flow


def test_log_in_with_a_registered_account(page: Page) -> None:
    account = register(page)
    log_out(page)
    log_in(page, account.email, account.password)
    expect(page.get_by_test_id("user-name")).to_have_text(account.name)


def test_invalid_credentials_are_rejected(page: Page) -> None:
    account = register(page)
    log_out(page)
    log_in(page, account.email, "not-the-password")
    expect(page.get_by_test_id("form-error")).to_have_text(re.compile("invalid email or password", re.IGNORECASE))
    expect(page.get_by_test_id("user-name")).to_have_count(0)
    log_in(page, new_account().email, "whatever-password")  # an unknown user gets the same answer
    expect(page.get_by_test_id("form-error")).to_have_text(re.compile("invalid email or password", re.IGNORECASE))


def test_log_out_ends_the_session(page: Page) -> None:
    register(page)
    log_out(page)
    expect(page.get_by_test_id("user-name")).to_have_count(0)
    page.goto("/my/courses")  # a members' page now sends us to the login form
    expect(page).to_have_url(re.compile(r"/login"))
