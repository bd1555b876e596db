"""Notifications: who hears about what (preferences and defaults), the e-mails' content, never twice."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from events.services import event_record, events_dispatch
from jobs.services.lifecycle import job_transition
from jobs.states import ActorKind, JobState
from notifications.models import Notification
from notifications.services import (
    notification_email_send,
    notifications_digest,
    notifications_send,
    preferences_set,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(student):
    student.email = "alice@example.edu"
    student.first_name = "Alice"
    student.save()
    return student


def finish(job, machine, to_state=JobState.COMPLETED, reason="the printer finished it"):
    for state in (JobState.DISPATCHING, JobState.PRINTING):
        job_transition(job=job, to_state=state, actor_kind=ActorKind.SCHEDULER, changes={"machine": machine})
    job_transition(job=job, to_state=to_state, actor_kind=ActorKind.RECONCILER, reason=reason)


def test_owner_gets_finished_by_default_in_the_app_and_by_email(alice, submit, machine, mailoutbox):
    job = submit(alice, name="bracket")
    finish(job, machine)
    events_dispatch()
    notifications = list(Notification.objects.filter(user=alice))
    # accepted/dispatched/started are off by default; finished is on.
    assert [n.event_type for n in notifications] == ["job.finished"]
    assert notifications[0].title == "bracket finished" and notifications[0].email_state == "pending"

    assert notifications_send() == 1
    [mail] = mailoutbox
    assert mail.to == ["alice@example.edu"] and mail.subject == "[Lab MES] bracket finished"
    assert "Hello Alice," in mail.body and "Your print is ready to collect." in mail.body
    assert f"Open: http://127.0.0.1:8000/jobs/{job.pk}/" in mail.body
    html, mime = mail.alternatives[0]
    assert mime == "text/html" and "<h2>bracket finished</h2>" in html
    assert mail.extra_headers["Message-ID"].startswith("<notification-")


def test_failure_carries_the_reason(alice, submit, machine, mailoutbox):
    job = submit(alice, name="vase")
    finish(job, machine, JobState.FAILED, "the printer reported an error: thermal runaway")
    events_dispatch()
    notifications_send()
    assert mailoutbox[0].subject == "[Lab MES] vase failed"
    assert "Reason: the printer reported an error: thermal runaway" in mailoutbox[0].body


def test_preferences_choose_channel_and_events(alice, submit, machine, mailoutbox):
    preferences_set(
        user=alice,
        choices={"job.finished": (True, False), "job.started": (True, True), "job.failed": (False, False)},
    )
    job = submit(alice)
    finish(job, machine)
    events_dispatch()
    rows = {n.event_type: n.email_state for n in Notification.objects.filter(user=alice)}
    assert rows == {"job.started": "pending", "job.finished": "none"}
    notifications_send()
    assert [m.subject for m in mailoutbox] == ["[Lab MES] part started printing"]


def test_others_hear_nothing_about_my_jobs(alice, other_student, submit, machine):
    finish(submit(alice), machine)
    events_dispatch()
    assert not Notification.objects.filter(user=other_student).exists()


def test_staff_only_event_types_are_refused_for_students(alice):
    with pytest.raises(ValueError, match="only lab staff"):
        preferences_set(user=alice, choices={"machine.error": (True, True)})
    with pytest.raises(ValueError, match="cannot notify"):
        preferences_set(user=alice, choices={"machine.teleported": (True, True)})


def test_an_email_is_never_sent_twice(alice, submit, machine, mailoutbox):
    finish(submit(alice), machine)
    events_dispatch()
    events_dispatch()
    assert Notification.objects.count() == 1  # the consumer saw the event once
    notification = Notification.objects.get()
    assert notification_email_send(notification_id=notification.pk) is True
    assert notification_email_send(notification_id=notification.pk) is False
    assert notifications_send() == 0
    assert len(mailoutbox) == 1


def test_a_worker_that_died_mid_send_does_not_cause_a_second_email(alice, submit, machine, mailoutbox):
    finish(submit(alice), machine)
    events_dispatch()
    # A worker claimed the e-mail and was killed during the SMTP conversation.
    Notification.objects.update(
        email_state="sending", email_claimed_at=timezone.now() - timedelta(minutes=11)
    )
    assert notifications_send() == 0
    notification = Notification.objects.get()
    assert mailoutbox == [] and notification.email_state == "failed"
    assert "not sent again" in notification.email_error


def test_no_address_is_recorded_not_crashed(student, submit, machine):
    finish(submit(student), machine)
    events_dispatch()
    notification = Notification.objects.get(user=student)
    assert notification.email_state == "failed" and "no e-mail address" in notification.email_error


def test_staff_get_machine_errors_in_an_hourly_digest(staff, alice, mailoutbox):
    staff.email = "tech@example.edu"
    staff.save()
    for name in ("mk4", "xl", "mini"):
        event_record(
            type="machine.error", payload={"name": name, "status_label": "Error", "errors": ["heater"]}
        )
    events_dispatch()
    assert Notification.objects.filter(user=staff, email_state="digest").count() == 3
    assert not Notification.objects.filter(user=alice).exists()
    assert notifications_send() == 0  # not one by one
    assert notifications_digest() == 1
    [mail] = mailoutbox
    assert mail.to == ["tech@example.edu"] and "3 machine problem(s)" in mail.subject
    assert all(f"{name}: Error" in mail.body for name in ("mk4", "xl", "mini"))
    assert notifications_digest() == 0 and len(mailoutbox) == 1


def test_the_header_shows_the_unread_count_and_the_list_marks_read(client, alice, submit, machine):
    finish(submit(alice, name="gear"), machine)
    events_dispatch()
    client.force_login(alice)
    page = client.get("/jobs/").content.decode()
    assert 'class="unread-count" title="1 unread">1</span>' in page
    listing = client.get("/notifications/").content.decode()
    assert "gear finished" in listing and 'class="unread"' in listing
    client.post("/notifications/read/")
    assert 'class="badge"' not in client.get("/notifications/badge/").content.decode()


def test_preferences_page_saves(client, alice):
    client.force_login(alice)
    page = client.get("/notifications/preferences/").content.decode()
    assert 'name="email:job.finished" aria-label="Job finished by e-mail" checked' in page
    client.post("/notifications/preferences/", {"in_app:job.finished": "on"})
    page = client.get("/notifications/preferences/").content.decode()
    assert 'name="email:job.finished" aria-label="Job finished by e-mail" >' in page


def test_api_lists_own_notifications(alice, other_student, submit, machine):
    from rest_framework.test import APIClient

    finish(submit(alice), machine)
    events_dispatch()
    api = APIClient()
    api.force_authenticate(alice)
    body = api.get("/api/notifications/").json()
    assert body["unread"] == 1 and body["results"][0]["event_type"] == "job.finished"
    assert (
        api.post("/api/notifications/read/", {"ids": [body["results"][0]["id"]]}, format="json").json()[
            "unread"
        ]
        == 0
    )
    api.force_authenticate(other_student)
    assert api.get("/api/notifications/").json() == {"unread": 0, "results": []}
    bad = api.put(
        "/api/notifications/preferences/",
        [{"type": "machine.error", "in_app": True, "email": True}],
        format="json",
    )
    assert bad.status_code == 400 and "only lab staff" in str(bad.json())


def test_the_demo_fleet_makes_the_admin_hear_about_prints_by_email(
    submit, machine, mailoutbox, django_user_model
):
    from mes.signals import demo_fleet_registered

    admin = django_user_model.objects.create_superuser("admin", password="x")
    demo_fleet_registered.send(sender=None, machine_ids=[machine.pk])
    demo_fleet_registered.send(sender=None, machine_ids=[machine.pk])  # idempotent
    admin.refresh_from_db()
    assert admin.email == "admin@localhost"
    finish(submit(admin, name="benchy"), machine)
    events_dispatch()
    notifications_send()
    assert [m.subject for m in mailoutbox] == [
        "[Lab MES] benchy is in the queue",
        "[Lab MES] benchy started printing",
        "[Lab MES] benchy finished",
    ]


def test_defaults_are_own_job_finished_failed_and_awaiting_bed_clear(alice, staff, submit, mailoutbox):
    from events.types import EventType
    from notifications.catalogue import NOTIFIABLE
    from notifications.services import preference_for

    defaults = {t for t in NOTIFIABLE if preference_for(user=alice, event_type=t) == (True, True)}
    assert defaults == {"job.finished", "job.failed", "job.awaiting_bed_clear"}
    assert all(preference_for(user=alice, event_type=t) == (False, False) for t in set(NOTIFIABLE) - defaults)
    assert preference_for(user=staff, event_type=EventType.MACHINE_ERROR) == (True, True)

    job = submit(alice, name="gear")
    event_record(
        type="job.awaiting_bed_clear",
        payload={"name": "gear", "machine_name": "mk4"},
        job_id=job.pk,
        user_id=alice.pk,
    )
    events_dispatch()
    notifications_send()
    assert [m.subject for m in mailoutbox] == ["[Lab MES] Collect gear from mk4"]
    assert "confirm the bed is clear" in mailoutbox[0].body
