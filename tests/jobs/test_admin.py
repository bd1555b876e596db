import pytest
from django.test import Client

from jobs.models import Job
from tests.jobs.helpers import make_job

pytestmark = pytest.mark.django_db


def test_admin_lists_and_acts_through_services(staff, student):
    staff.is_superuser = True
    staff.save()
    a, b = make_job(student, name="a"), make_job(student, name="b")
    printing = make_job(student, "printing")
    client = Client()
    client.force_login(staff)
    assert client.get("/admin/jobs/job/?state__exact=queued").status_code == 200
    assert client.get(f"/admin/jobs/job/{a.pk}/change/").status_code == 200
    client.post("/admin/jobs/job/", {"action": "move_to_front", "_selected_action": [str(b.pk)]})
    assert Job.objects.get(pk=b.pk).position < Job.objects.get(pk=a.pk).position
    client.post("/admin/jobs/job/", {"action": "cancel", "_selected_action": [str(a.pk), str(printing.pk)]})
    assert Job.objects.get(pk=a.pk).state == "cancelled"
    assert Job.objects.get(pk=printing.pk).requested_action == "cancel"


def test_staff_lock_the_queue_with_a_note_and_unlock_it_in_the_admin(staff, student):
    from jobs.selectors import queue_state_get

    staff.is_superuser = True
    staff.save()
    client = Client()
    client.force_login(staff)
    state = queue_state_get()
    changelist = "/admin/jobs/queuestate/"
    assert 'name="note"' in client.get(changelist).content.decode()  # the note is asked for there

    refused = client.post(
        changelist, {"action": "lock", "_selected_action": [state.pk], "note": ""}, follow=True
    )
    assert "The queue was not locked: say why the queue is locked (note)." in refused.content.decode()
    assert queue_state_get().locked is False

    locked = client.post(
        changelist, {"action": "lock", "_selected_action": [state.pk], "note": "exam week"}, follow=True
    )
    assert "The queue is locked" in locked.content.decode()
    state = queue_state_get()
    assert state.locked and state.lock_note == "exam week" and state.locked_by == staff

    client.post(changelist, {"action": "unlock", "_selected_action": [state.pk]})
    assert queue_state_get().locked is False


def test_staff_approve_waiting_jobs_in_the_admin(staff, student, settings):
    settings.JOBS_REQUIRE_APPROVAL = True
    staff.is_superuser = True
    staff.save()
    waiting = make_job(student, "awaiting_approval", name="needs-ok")
    client = Client()
    client.force_login(staff)
    client.post("/admin/jobs/job/", {"action": "approve", "_selected_action": [str(waiting.pk)]})
    waiting.refresh_from_db()
    assert waiting.state == "queued"
    assert waiting.events.last().actor == staff
