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
