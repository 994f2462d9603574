"""Enrollment suite: browse the catalogue, view a course, enrol in a free course, open it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from azora.e2e.suites.flows import course_cards, open_first_course, register

pytestmark = pytest.mark.e2e


def test_browse_the_course_catalogue(page: Page) -> None:
    page.goto("/")
    page.get_by_test_id("nav-courses").click()
    cards = page.get_by_test_id("course-card")
    expect(cards.first).to_be_visible()
    for index in range(cards.count()):
        card = cards.nth(index)
        expect(card.get_by_test_id("course-link")).not_to_be_empty()
        expect(card.get_by_test_id("course-price")).to_have_text(re.compile(r"Free|\d"))
    expect(course_cards(page, free=True).first).to_be_visible()  # at least one free course to enrol in


def test_view_course_details(page: Page) -> None:
    open_first_course(page, free=True)
    expect(page.get_by_test_id("course-description")).not_to_be_empty()
    expect(page.get_by_test_id("lesson-list").locator("li").first).to_be_visible()
    expect(page.get_by_test_id("course-price")).to_have_text("Free")


def test_enrol_in_a_free_course_and_open_it(page: Page) -> None:
    register(page)
    title = open_first_course(page, free=True)
    page.get_by_test_id("enroll-button").click()
    page.get_by_test_id("open-course").click()
    expect(page.get_by_test_id("course-player")).to_be_visible()
    expect(page.get_by_test_id("course-title")).to_have_text(title)
    expect(page.get_by_test_id("lesson-title")).to_contain_text("Lesson 1")


def test_enrolling_needs_an_account(page: Page) -> None:
    open_first_course(page, free=True)
    page.get_by_test_id("enroll-button").click()
    expect(page).to_have_url(re.compile(r"/login"))
