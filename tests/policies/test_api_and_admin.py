"""Staff manage policies through the API and the admin; students read; training records come in bulk
from CSV (API, admin, management command), all rows or none, with an error per bad row."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from policies.models import OpeningHours, TrainingRecord
from tests.policies.conftest import api_for, browser_for, trained

pytestmark = pytest.mark.django_db

GOOD = "username,training,completed_on,trainer,expires_on\ns1234567,FDM basics,2026-10-01,tech,2027-10-01\ns7654321,fdm basics,2026-10-02,Dr. Byron,\n"
BAD = "username,training,completed_on\ns1234567,FDM basics,2026-10-01\nnobody,FDM basics,2026-10-01\ns7654321,Resin,01.10.2026\n"


def _csv(text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("records.csv", text.encode(), content_type="text/csv")


def test_staff_write_students_read(student, staff, fdm):
    body = {"weekday": 0, "opens": "09:00", "closes": "17:00"}
    assert api_for(student).post("/api/policies/hours/", body, format="json").status_code == 403
    assert api_for(staff).post("/api/policies/hours/", body, format="json").status_code == 201
    assert api_for(student).get("/api/policies/hours/").json()["results"][0]["opens"] == "09:00"
    trainings = api_for(student).get("/api/policies/trainings/").json()["results"]
    assert [(t["name"], t["given_by"], t["required_for"]) for t in trainings] == [
        ("FDM basics", "Dr. Byron, room 2.14", ["every printer-3d"])
    ]
    assert api_for(student).get("/api/policies/quotas/").status_code == 403


def test_bad_input_is_a_400_in_the_error_shape(staff):
    response = api_for(staff).post(
        "/api/policies/hours/", {"weekday": 0, "opens": "17:00", "closes": "09:00"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert (
        "close after it opens" in response.json()["detail"]
        or "opening_hours_order" in response.json()["detail"]
    )
    response = api_for(staff).post(
        "/api/policies/quotas/", {"period": "term", "max_hours": "5"}, format="json"
    )
    assert response.status_code == 400 and response.json()["code"] == "invalid"
    assert OpeningHours.objects.count() == 0


def test_a_training_people_hold_cannot_be_deleted(staff, student, fdm):
    trained(student, fdm)
    response = api_for(staff).delete(f"/api/policies/trainings/{fdm.pk}/")
    assert response.status_code == 409 and response.json()["code"] == "protected"


def test_csv_import_through_the_api_all_or_nothing(staff, student, other_student, fdm):
    response = api_for(staff).post("/api/policies/records/import/", {"file": _csv(BAD)}, format="multipart")
    assert response.status_code == 400
    body = response.json()
    assert (
        body["code"] == "import_rejected" and body["detail"] == "2 row(s) have errors; nothing was imported"
    )
    assert body["errors"] == {
        "row 3": ["no user 'nobody'"],
        "row 4": ["unknown training 'Resin' (the lab has: FDM basics)"],
    }
    assert TrainingRecord.objects.count() == 0
    response = api_for(staff).post("/api/policies/records/import/", {"file": _csv(GOOD)}, format="multipart")
    assert response.status_code == 201
    assert [(r["username"], r["trainer_display"], r["expires_on"]) for r in response.json()] == [
        ("s1234567", "tech", "2027-10-01"),
        ("s7654321", "Dr. Byron", None),
    ]
    assert (
        api_for(student)
        .post("/api/policies/records/import/", {"file": _csv(GOOD)}, format="multipart")
        .status_code
        == 403
    )


def test_the_import_command(tmp_path, student, other_student, fdm):
    bad = tmp_path / "bad.csv"
    bad.write_text(BAD)
    with pytest.raises(CommandError) as refused:
        call_command("import_trainings", str(bad))
    assert "row 3: no user 'nobody'" in str(refused.value)
    assert "row 4: unknown training 'Resin'" in str(refused.value)
    good = tmp_path / "good.csv"
    good.write_text(GOOD)
    out = StringIO()
    call_command("import_trainings", str(good), stdout=out)
    assert out.getvalue().strip() == "imported 2 training record(s)"


def test_the_admin_upload_lists_every_bad_row(staff, fdm, student, other_student):
    staff.is_superuser = True
    staff.save()
    client = browser_for(staff)
    response = client.post("/admin/policies/trainingrecord/import/", {"file": _csv(BAD)})
    html = response.content.decode()
    assert response.status_code == 400
    assert "Row 3: no user &#x27;nobody&#x27;" in html and "Row 4: unknown training" in html
    response = client.post(
        "/admin/policies/trainingrecord/import/", {"file": _csv(GOOD.replace("s7654321", "s1234567"))}
    )
    assert response.status_code == 302
    assert TrainingRecord.objects.filter(user=student).count() == 2


def test_the_admin_action_records_a_training_for_selected_users(staff, student, other_student, fdm):
    staff.is_superuser = True
    staff.save()
    client = browser_for(staff)
    selected = {"action": "record_training", "_selected_action": [student.pk, other_student.pk]}
    form = client.post("/admin/auth/user/", selected)
    assert form.status_code == 200 and "Record a training for 2 user(s)" in form.content.decode()
    done = client.post(
        "/admin/auth/user/",
        {
            **selected,
            "apply": "1",
            "training": fdm.pk,
            "completed_on": "2026-12-01",
            "expires_on": "2027-12-01",
        },
    )
    assert done.status_code == 302
    records = TrainingRecord.objects.order_by("user__username")
    assert [(r.user.username, r.trainer_display, str(r.expires_on)) for r in records] == [
        ("s1234567", "tech", "2027-12-01"),
        ("s7654321", "tech", "2027-12-01"),
    ]


def test_machines_may_be_allowed_to_run_unattended(staff, student, farm):
    mk4 = farm.add_machine("mk4")
    assert api_for(student).get(f"/api/policies/machines/{mk4.pk}/").json()["unattended_allowed"] is False
    assert (
        api_for(student)
        .patch(f"/api/policies/machines/{mk4.pk}/", {"unattended_allowed": True}, format="json")
        .status_code
        == 403
    )
    response = api_for(staff).patch(
        f"/api/policies/machines/{mk4.pk}/", {"unattended_allowed": True}, format="json"
    )
    assert response.status_code == 200 and response.json() == {
        "machine": str(mk4.pk),
        "machine_name": "mk4",
        "unattended_allowed": True,
    }
