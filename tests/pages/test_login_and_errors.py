"""The lab's own login (branding, password reset by e-mail, optional single sign-on) and error pages
that say what happened and where to go, without tracebacks in the log for expected refusals."""

from __future__ import annotations

import importlib
import logging
import re
from pathlib import Path

import pytest
from django.core import mail
from django.test import Client
from django.urls import clear_url_caches

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def test_the_login_page_carries_the_labs_name_and_logo(client, db, settings):
    settings.MES_SITE_NAME = "Fab Lab Nord"
    settings.MES_LOGO_URL = "https://lab.example.org/logo.png"
    html = client.get("/accounts/login/").content.decode()
    assert "<title>Log in · Fab Lab Nord</title>" in html
    assert 'src="https://lab.example.org/logo.png"' in html
    assert "Django" not in html
    assert 'href="/accounts/password_reset/"' in html


def test_a_student_logs_in_and_out_on_the_labs_pages(db, student):
    student.set_password("correct horse battery")
    student.save()
    client = Client()
    response = client.post("/accounts/login/", {"username": "student", "password": "wrong"})
    assert (
        response.status_code == 200
        and "Please enter a correct username and password" in response.content.decode()
    )
    response = client.post("/accounts/login/", {"username": "student", "password": "correct horse battery"})
    assert response.status_code == 302 and response.url == "/"
    assert client.get("/jobs/").status_code == 200
    response = client.post("/accounts/logout/")
    assert response.status_code == 302 and response.url == "/accounts/login/"
    assert client.get("/jobs/").status_code == 302


def test_the_admin_login_is_the_labs_login(client, db):
    response = client.get("/admin/", follow=True)
    assert response.redirect_chain[-1][0] == "/accounts/login/?next=%2Fadmin%2F"
    assert "Django administration" not in response.content.decode()


def test_a_student_following_an_admin_link_is_told_it_is_for_staff(login, student):
    response = login(student).get("/admin/", follow=True)
    html = response.content.decode()
    assert "Django administration" not in html
    assert "You are logged in as <strong>student</strong>, but that page is for someone else" in html


def test_password_reset_by_e_mail(db, student, settings):
    settings.MES_SITE_NAME = "Fab Lab Nord"
    student.email = "student@uni.example"
    student.set_password("the old one, forgotten")
    student.save()
    client = Client()
    response = client.post("/accounts/password_reset/", {"email": "student@uni.example"})
    assert response.status_code == 302 and response.url == "/accounts/password_reset/done/"
    assert "Check your e-mail" in client.get(response.url).content.decode()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["student@uni.example"] and message.subject == "Your Fab Lab Nord password"
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", message.body).group(1)
    form = client.get(link, follow=True)
    assert "Choose a new password" in form.content.decode()
    response = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "a fresh long passphrase", "new_password2": "a fresh long passphrase"},
    )
    assert response.status_code == 302 and response.url == "/accounts/reset/done/"
    student.refresh_from_db()
    assert student.check_password("a fresh long passphrase")
    assert "This link no longer works" in client.get(link, follow=True).content.decode()


def test_an_unknown_address_sends_nothing_and_says_the_same(client, db):
    response = client.post("/accounts/password_reset/", {"email": "nobody@uni.example"})
    assert response.status_code == 302 and mail.outbox == []


def test_make_run_prints_reset_mails_on_the_console(settings):
    from mes import settings as project_settings

    assert project_settings.DEBUG is True  # the test run's own settings module: the embedded default
    assert project_settings.EMAIL_BACKEND == "django.core.mail.backends.console.EmailBackend"


@pytest.fixture
def oidc(settings):
    settings.OIDC_ENABLED = True
    settings.OIDC_RP_CLIENT_ID = "lab-mes"
    settings.OIDC_RP_CLIENT_SECRET = "s3cret"
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = "https://idp.uni.example/authorize"
    settings.OIDC_OP_TOKEN_ENDPOINT = "https://idp.uni.example/token"
    settings.OIDC_OP_USER_ENDPOINT = "https://idp.uni.example/userinfo"
    settings.OIDC_OP_JWKS_ENDPOINT = "https://idp.uni.example/jwks"
    settings.OIDC_RP_SIGN_ALGO = "RS256"
    settings.OIDC_RP_SCOPES = "openid email profile"
    settings.OIDC_USERNAME_ALGO = "mes.oidc.username_for"
    settings.OIDC_STAFF_GROUP = ""
    settings.OIDC_GROUPS_CLAIM = "groups"
    settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, "mes.oidc.LabOIDCBackend"]
    import mes.urls

    importlib.reload(mes.urls)
    clear_url_caches()
    yield settings
    settings.OIDC_ENABLED = False
    importlib.reload(mes.urls)
    clear_url_caches()


def test_single_sign_on_is_off_by_default(client, db):
    html = client.get("/accounts/login/").content.decode()
    assert "university account" not in html
    assert client.get("/oidc/authenticate/").status_code == 404


def test_single_sign_on_sends_the_browser_to_the_identity_provider(client, db, oidc):
    html = client.get("/accounts/login/?next=/jobs/").content.decode()
    assert (
        'href="/oidc/authenticate/?next=%2Fjobs%2F"' in html and "Log in with your university account" in html
    )
    response = client.get("/oidc/authenticate/?next=/jobs/")
    assert response.status_code == 302
    assert response.url.startswith("https://idp.uni.example/authorize?")
    assert "client_id=lab-mes" in response.url and "scope=openid+email" in response.url


def test_single_sign_on_users_are_matched_by_e_mail_and_staff_by_group(db, oidc):
    from mes.oidc import LabOIDCBackend

    oidc.OIDC_STAFF_GROUP = "lab-staff"
    oidc.OIDC_GROUPS_CLAIM = "groups"
    backend = LabOIDCBackend()
    claims = {"email": "ada@uni.example", "given_name": "Ada", "family_name": "L", "groups": ["lab-staff"]}
    user = backend.create_user(claims)
    assert (user.username, user.first_name, user.is_staff) == ("ada@uni.example", "Ada", True)
    user = backend.update_user(user, {**claims, "groups": []})
    assert user.is_staff is False


def test_enabling_single_sign_on_without_its_endpoints_stops_startup(tmp_path):
    from tests.foundation.test_configuration import assert_one_line, run_manage

    result = run_manage(tmp_path, "check", OIDC_ENABLED="true", OIDC_RP_CLIENT_ID="x")
    assert_one_line(result, "OIDC_ENABLED=true needs OIDC_RP_CLIENT_SECRET, OIDC_OP_AUTHORIZATION_ENDPOINT")


def test_404_page_says_what_happened_and_where_to_go(login, student, caplog):
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = login(student).get("/jobs/no-such-page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "There is nothing here" in html and "<code>/jobs/no-such-page/</code>" in html
    assert 'href="/jobs/"' in html and "site.css" in html


def test_403_page_names_the_reason_and_logs_one_line_without_traceback(login, student, printer, caplog):
    machine = printer()
    client = login(student)
    client.get("/jobs/")
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.post(
            f"/fleet/{machine.pk}/bed-cleared/", {"csrfmiddlewaretoken": client.cookies["csrftoken"].value}
        )
    assert response.status_code == 403
    html = response.content.decode()
    assert "This page is not for your account" in html and "The fleet board is for lab staff." in html
    assert 'href="/fleet/"' in html  # where to go: which printers are free
    records = [r for r in caplog.records if r.name == "django.request"]
    assert len(records) == 1 and records[0].getMessage().startswith("Forbidden (Permission denied)")
    assert records[0].exc_info is None


def test_500_page_is_styled_and_calm(client, db, settings):
    from mes.errors import server_error

    request = client.get("/accounts/login/").wsgi_request
    response = server_error(request)
    html = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong on our side" in html and "site.css" in html and "Traceback" not in html


def test_api_errors_stay_json(client, db):
    response = client.get("/api/no-such-endpoint/")
    assert response.status_code == 404 and response["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    "template", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: str(p.relative_to(TEMPLATES))
)
def test_templates_have_no_inline_script_or_style(template):
    """The pages run under a Content-Security-Policy without 'unsafe-inline'."""
    text = template.read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), "inline <script>"
    assert not re.search(r"<style\b|\sstyle=|\son[a-z]+=", text), "inline style or event handler"


def test_every_page_and_the_bare_favicon_address_give_the_labs_icon(client, db, settings):
    """Pages name the icon; /favicon.ico (asked for by browsers on the API and on files) leads to it."""
    settings.WHITENOISE_USE_FINDERS = True  # served as in `make run`
    html = client.get("/accounts/login/").content.decode()
    icon = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', html)
    assert icon, "no icon in the page head"
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response.url == icon.group(1)
    served = client.get(icon.group(1))
    assert served.status_code == 200 and served["Content-Type"].startswith("image/svg+xml")
    assert b"<svg" in b"".join(served.streaming_content)
