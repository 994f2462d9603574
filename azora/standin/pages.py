"""The stand-in's HTML: plain semantic pages with the data-testid hooks the browser suites use.

Selector contract (the real Azora web app is expected to carry the same data-testid values, so
the suites run against it unchanged):
  nav-home, nav-courses, nav-cart, cart-count, nav-login, nav-register, user-name,
  logout-button, notice, form-error, page-title;
  register-name, register-email, register-password, register-submit;
  login-email, login-password, login-submit;
  course-list, course-card (data-course-id), course-link, course-price, course-title,
  course-description, lesson-list, enroll-button, add-to-cart, open-course, course-player,
  lesson-title, my-courses;
  cart-item (data-course-id), cart-total, cart-empty, checkout-link;
  card-name, card-number, card-expiry, card-cvc, pay-button, payment-error, payment-success,
  order-id, order-total.
"""

from __future__ import annotations

from html import escape

from azora.standin.state import Course, Order, User, money


def layout(title: str, body: str, user: User | None, cart_count: int = 0, notice: str | None = None) -> str:
    if user is not None:
        account = (
            f'<span data-testid="user-name">{escape(user.name)}</span> '
            '<a href="/my/courses">My courses</a> '
            '<form method="post" action="/logout" class="inline">'
            '<button type="submit" data-testid="logout-button">Log out</button></form>'
        )
    else:
        account = (
            '<a href="/login" data-testid="nav-login">Log in</a> '
            '<a href="/register" data-testid="nav-register">Register</a>'
        )
    notice_html = f'<p role="status" data-testid="notice">{escape(notice)}</p>' if notice else ""
    return f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{escape(title)} · Azora</title>
<style>body{{font-family:sans-serif;margin:2rem}} nav>a,nav>span{{margin-right:1rem}} .inline{{display:inline}}</style>
</head>
<body>
<header><nav aria-label="Main">
<a href="/" data-testid="nav-home">Azora</a>
<a href="/courses" data-testid="nav-courses">Courses</a>
<a href="/cart" data-testid="nav-cart">Cart (<span data-testid="cart-count">{cart_count}</span>)</a>
{account}
</nav></header>
<main>
{notice_html}
{body}
</main>
</body>
</html>
"""


def home(user: User | None) -> str:
    greeting = f"Welcome back, {escape(user.name)}." if user else "Learn, teach and trade skills."
    return (
        '<h1 data-testid="page-title">Azora OS</h1>'
        f"<p>{greeting}</p>"
        '<p><a href="/courses">Browse the course catalogue</a></p>'
    )


def error_paragraph(message: str | None) -> str:
    return f'<p role="alert" data-testid="form-error">{escape(message)}</p>' if message else ""


def register_form(message: str | None = None, name: str = "", email: str = "") -> str:
    return f"""<h1 data-testid="page-title">Create your account</h1>
{error_paragraph(message)}
<form method="post" action="/register">
<p><label for="name">Name</label> <input id="name" name="name" value="{escape(name)}" data-testid="register-name"></p>
<p><label for="email">Email</label>
<input id="email" name="email" type="email" value="{escape(email)}" data-testid="register-email"></p>
<p><label for="password">Password</label>
<input id="password" name="password" type="password" data-testid="register-password"></p>
<p><button type="submit" data-testid="register-submit">Create account</button></p>
</form>"""


def login_form(message: str | None = None, email: str = "", next_path: str = "/") -> str:
    return f"""<h1 data-testid="page-title">Log in</h1>
{error_paragraph(message)}
<form method="post" action="/login">
<input type="hidden" name="next" value="{escape(next_path)}">
<p><label for="email">Email</label>
<input id="email" name="email" type="email" value="{escape(email)}" data-testid="login-email"></p>
<p><label for="password">Password</label>
<input id="password" name="password" type="password" data-testid="login-password"></p>
<p><button type="submit" data-testid="login-submit">Log in</button></p>
</form>
<p>New here? <a href="/register">Create an account</a></p>"""


def catalogue(courses: list[Course]) -> str:
    items = "\n".join(
        f'<li data-testid="course-card" data-course-id="{escape(c.id)}">'
        f'<a href="/courses/{escape(c.id)}" data-testid="course-link">{escape(c.title)}</a> '
        f'<span data-testid="course-price">{money(c.price_cents)}</span></li>'
        for c in courses
    )
    return f'<h1 data-testid="page-title">Courses</h1>\n<ul data-testid="course-list">\n{items}\n</ul>'


def course_details(course: Course, user: User | None) -> str:
    lessons = "".join(f"<li>{escape(lesson)}</li>" for lesson in course.lessons)
    if user is not None and course.id in user.enrolled:
        action = f'<a href="/learn/{escape(course.id)}" data-testid="open-course">Open course</a>'
    elif course.free:
        action = (
            f'<form method="post" action="/courses/{escape(course.id)}/enroll">'
            '<button type="submit" data-testid="enroll-button">Enrol for free</button></form>'
        )
    else:
        action = (
            '<form method="post" action="/cart">'
            f'<input type="hidden" name="course_id" value="{escape(course.id)}">'
            '<button type="submit" data-testid="add-to-cart">Add to cart</button></form>'
        )
    return f"""<article>
<h1 data-testid="course-title">{escape(course.title)}</h1>
<p data-testid="course-description">{escape(course.description)}</p>
<p>Price: <span data-testid="course-price">{money(course.price_cents)}</span></p>
<h2>Lessons</h2>
<ol data-testid="lesson-list">{lessons}</ol>
{action}
</article>"""


def player(course: Course) -> str:
    first = course.lessons[0]
    return f"""<section data-testid="course-player">
<h1 data-testid="course-title">{escape(course.title)}</h1>
<h2 data-testid="lesson-title">Lesson 1: {escape(first)}</h2>
<p>Welcome to {escape(course.title)}. Work through the lessons in order.</p>
</section>"""


def my_courses(courses: list[Course]) -> str:
    if not courses:
        return '<h1 data-testid="page-title">My courses</h1><p data-testid="my-courses">No courses yet.</p>'
    items = "".join(f'<li><a href="/learn/{escape(c.id)}">{escape(c.title)}</a></li>' for c in courses)
    return f'<h1 data-testid="page-title">My courses</h1><ul data-testid="my-courses">{items}</ul>'


def cart(courses: list[Course]) -> str:
    if not courses:
        return '<h1 data-testid="page-title">Your cart</h1><p data-testid="cart-empty">Your cart is empty.</p>'
    items = "\n".join(
        f'<li data-testid="cart-item" data-course-id="{escape(c.id)}">{escape(c.title)} — {money(c.price_cents)}</li>'
        for c in courses
    )
    total = money(sum(c.price_cents for c in courses))
    return f"""<h1 data-testid="page-title">Your cart</h1>
<ul>{items}</ul>
<p>Total: <strong data-testid="cart-total">{total}</strong></p>
<p><a href="/checkout" data-testid="checkout-link">Checkout</a></p>"""


def checkout(courses: list[Course], message: str | None = None) -> str:
    total = money(sum(c.price_cents for c in courses))
    error = f'<p role="alert" data-testid="payment-error">{escape(message)}</p>' if message else ""
    return f"""<h1 data-testid="page-title">Checkout</h1>
<p>{len(courses)} course(s), total <strong data-testid="cart-total">{total}</strong></p>
{error}
<form method="post" action="/checkout">
<p><label for="card-name">Name on card</label> <input id="card-name" name="name" data-testid="card-name"></p>
<p><label for="card-number">Card number</label>
<input id="card-number" name="card" inputmode="numeric" autocomplete="cc-number" data-testid="card-number"></p>
<p><label for="card-expiry">Expiry (MM/YY)</label> <input id="card-expiry" name="expiry" data-testid="card-expiry"></p>
<p><label for="card-cvc">Security code</label> <input id="card-cvc" name="cvc" data-testid="card-cvc"></p>
<p><button type="submit" data-testid="pay-button">Pay {total}</button></p>
</form>"""


def order_confirmation(order: Order, courses: list[Course]) -> str:
    links = "".join(
        f'<li><a href="/learn/{escape(c.id)}" data-testid="open-course">{escape(c.title)}</a></li>' for c in courses
    )
    return f"""<h1 data-testid="payment-success">Payment successful</h1>
<p>Order <code data-testid="order-id">{escape(order.id)}</code>,
<strong data-testid="order-total">{money(order.amount_cents)}</strong>
charged to the card ending {order.card_last4}.</p>
<ul>{links}</ul>"""


def message_page(heading: str, text: str) -> str:
    return (
        f'<h1 data-testid="page-title">{escape(heading)}</h1>\n'
        f'<p role="alert" data-testid="form-error">{escape(text)}</p>'
    )
