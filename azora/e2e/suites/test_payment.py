"""Payment suite: add to cart, check out, pay with the test card, a declined payment."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from azora.e2e.suites.flows import TEST_CARD_DECLINED, TEST_CARD_OK, add_paid_course_to_cart, pay, register

pytestmark = pytest.mark.e2e


def test_add_a_paid_course_to_the_cart(page: Page) -> None:
    register(page)
    add_paid_course_to_cart(page)
    expect(page.get_by_test_id("cart-count")).to_have_text("1")
    expect(page.get_by_test_id("cart-total")).to_have_text(re.compile(r"\d+\.\d\d"))


def test_check_out_and_pay_with_the_test_card(page: Page) -> None:
    register(page)
    title = add_paid_course_to_cart(page)
    total = page.get_by_test_id("cart-total").inner_text()
    pay(page, TEST_CARD_OK)
    expect(page.get_by_test_id("payment-success")).to_be_visible()
    expect(page.get_by_test_id("order-total")).to_have_text(total)
    expect(page.get_by_test_id("cart-count")).to_have_text("0")
    page.get_by_test_id("open-course").filter(has_text=title).click()  # bought means enrolled
    expect(page.get_by_test_id("course-player")).to_be_visible()


def test_a_declined_card_shows_an_error_and_keeps_the_cart(page: Page) -> None:
    register(page)
    add_paid_course_to_cart(page)
    pay(page, TEST_CARD_DECLINED)
    expect(page.get_by_test_id("payment-error")).to_contain_text("declined")
    expect(page.get_by_test_id("payment-success")).to_have_count(0)
    expect(page.get_by_test_id("cart-count")).to_have_text("1")
