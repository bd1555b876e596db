"""The slicer's picture of a job: stored next to the job at upload, served to its owner and staff only
(with caching headers), shown on the fleet card, the machine page and the job page; never on the
students' availability page or the public board."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client

from jobs.models import Job
from tests.jobs.conftest import gcode
from tests.jobs.thumbnail_samples import block, tiny_jpeg, tiny_png, with_header
from tests.pages.conftest import printing_state, report, start_printing

PNG = tiny_png(32, 24)


@pytest.fixture
def machine(printer):
    return printer("mk4")


@pytest.fixture
def pictured(machine, submit_job, student):
    """A student's job whose G-code carries two PNG thumbnails (the larger is kept)."""
    content = with_header(gcode(), block(tiny_png(8, 8), 8, 8), block(PNG, 32, 24))
    return submit_job(student, name="bracket", content=content)


def test_the_picture_is_stored_next_to_the_job(pictured, settings):
    job = Job.objects.get(pk=pictured.pk)
    assert job.thumbnail.name == f"jobs/{job.created_at:%Y/%m}/{job.pk}.thumb.png"
    assert Path(job.file.path).parent == Path(job.thumbnail.path).parent
    assert Path(job.thumbnail.path).read_bytes() == PNG
    assert job.metadata["thumbnail"] == {"format": "png", "width": 32, "height": 24, "bytes": len(PNG)}


def test_a_refused_file_leaves_no_picture_behind(login, student, machine, settings):
    from tests.jobs.conftest import upload
    from tests.pages.conftest import csrf_post

    content = with_header(gcode(extra="M997"), block(PNG, 32, 24))
    response = csrf_post(login(student), "/jobs/submit/", {"file": upload(content, "x.gcode"), "name": "x"})
    assert response.status_code == 400
    media = Path(settings.MEDIA_ROOT)
    assert not media.exists() or not [p for p in media.rglob("*") if p.is_file()]


def test_the_owner_gets_the_picture_with_caching_headers(login, pictured):
    client = login(pictured.owner)
    response = client.get(f"/jobs/{pictured.pk}/thumbnail/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PNG
    assert response["Content-Type"] == "image/png"
    assert response["Cache-Control"] == "private, max-age=86400"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "Cookie" in response["Vary"]
    etag = response["ETag"]
    again = client.get(f"/jobs/{pictured.pk}/thumbnail/", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again.content == b"" and again["ETag"] == etag


def test_staff_get_it_other_students_and_strangers_do_not(login, pictured, staff, other_student):
    url = f"/jobs/{pictured.pk}/thumbnail/"
    assert login(staff).get(url).status_code == 200
    assert login(other_student).get(url).status_code == 404
    anonymous = Client().get(url)
    assert anonymous.status_code == 302 and anonymous.url.startswith("/accounts/login/")


def test_a_job_without_a_picture_is_404(login, machine, submit_job, student):
    job = submit_job(student, name="plain")
    assert login(student).get(f"/jobs/{job.pk}/thumbnail/").status_code == 404
    assert "job-thumbnail" not in login(student).get(f"/jobs/{job.pk}/").content.decode()


def test_a_jpeg_is_served_as_jpeg(login, machine, submit_job, student):
    job = submit_job(student, content=with_header(gcode(), block(tiny_jpeg(20, 10), 20, 10, kind="JPG")))
    response = login(student).get(f"/jobs/{job.pk}/thumbnail/")
    assert response["Content-Type"] == "image/jpeg" and job.thumbnail.name.endswith(".thumb.jpg")


def test_a_picture_gone_from_disk_is_404(login, pictured):
    Path(pictured.thumbnail.path).unlink()
    assert login(pictured.owner).get(f"/jobs/{pictured.pk}/thumbnail/").status_code == 404


def test_the_job_page_shows_it(login, pictured):
    html = login(pictured.owner).get(f"/jobs/{pictured.pk}/").content.decode()
    assert (
        f'<img class="job-thumbnail large" src="/jobs/{pictured.pk}/thumbnail/" '
        'alt="Slicer preview of bracket" width="32" height="24"' in html
    )


def test_the_job_page_says_why_a_qoi_picture_is_not_shown(login, machine, submit_job, student):
    qoi = b"qoif\x00\x00\x00\x04\x00\x00\x00\x03\x03\x00" + b"\x00" * 8
    job = submit_job(student, content=with_header(gcode(), block(qoi, 4, 3, kind="QOI")))
    html = login(student).get(f"/jobs/{job.pk}/").content.decode()
    assert (
        "No preview: the file&#x27;s thumbnails are QOI only" in html
        and '<img class="job-thumbnail' not in html
    )


def test_the_fleet_card_and_the_machine_page_show_the_current_job_picture(login, staff, machine, pictured):
    job = start_printing(pictured, machine)
    report(machine, printing_state(job.printer_file_name))
    client = login(staff)
    img = f'src="/jobs/{job.pk}/thumbnail/"'
    for url in ("/fleet/", "/fleet/live/", f"/machines/{machine.pk}/", f"/machines/{machine.pk}/live/"):
        html = client.get(url).content.decode()
        assert f'<img class="job-thumbnail card-thumbnail" {img}' in html, url
    history = client.get(f"/machines/{machine.pk}/").content.decode().split('id="machine-jobs"')[1]
    assert f'<img class="job-thumbnail row-thumbnail" {img}' in history  # its jobs, each with its picture


def test_students_and_the_public_board_never_see_it(login, machine, pictured, other_student):
    job = start_printing(pictured, machine)
    report(machine, printing_state(job.printer_file_name))
    for html in (
        login(other_student).get("/fleet/").content.decode(),
        login(other_student).get("/fleet/live/").content.decode(),
        Client().get("/board/").content.decode(),
        Client().get("/board/", follow=True).content.decode(),
    ):
        assert "thumbnail" not in html and str(job.pk) not in html
