"""Queue operations (bluesky-queueserver parity) through the API, with their error cases."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from jobs.models import Job, QueueState
from jobs.selectors import queue_list
from jobs.services import STEP, Location, allocate_positions, job_transition, queue_move
from tests.jobs.conftest import gcode
from tests.jobs.helpers import make_job

pytestmark = pytest.mark.django_db


def names(user):
    return [j.name for j in queue_list(user=user)]


@pytest.fixture
def abc(student):
    return [make_job(student, name=n) for n in "abc"]


def add(client, name, **fields):
    return client.post(
        "/api/jobs/",
        {"file": SimpleUploadedFile(f"{name}.gcode", gcode()), "name": name, **fields},
        format="multipart",
    )


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, "abcx"),
        ({"pos": "back"}, "abcx"),
        ({"pos": "front"}, "xabc"),
        ({"pos": "1"}, "axbc"),
        ({"pos": "-1"}, "abcx"),
        ({"pos": "-2"}, "abxc"),
        ({"pos": "99"}, "abcx"),
        ({"pos": "-99"}, "xabc"),
    ],
)
def test_add_at_position(api, staff, machine, abc, fields, expected):
    response = add(api(staff), "x", **fields)
    assert response.status_code == 201, response.json()
    assert "".join(names(staff)) == expected


def test_add_before_and_after_a_job(api, staff, machine, abc):
    assert add(api(staff), "x", before_uid=str(abc[1].pk)).status_code == 201
    assert add(api(staff), "y", after_uid=str(abc[1].pk)).status_code == 201
    assert names(staff) == ["a", "x", "b", "y", "c"]


def test_add_location_errors(api, staff, machine, abc, student):
    client = api(staff)
    assert add(client, "x", pos="middle").status_code == 400
    both = add(client, "x", pos="front", before_uid=str(abc[0].pk))
    assert both.status_code == 400 and "only one of" in str(both.json())
    missing = add(client, "x", before_uid="00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 409 and "not waiting in the queue" in missing.json()["detail"]
    printing = make_job(student, "printing")
    assert add(client, "x", after_uid=str(printing.pk)).status_code == 409
    assert Job.objects.filter(name="x").count() == 0


def test_students_add_only_at_the_back_without_priority(api, student, machine, abc):
    assert add(api(student), "x", pos="front").status_code == 403
    assert add(api(student), "x", priority="5").status_code == 403
    assert add(api(student), "x").status_code == 201
    assert names(student)[-1] == "x"


def test_priority_orders_before_position(api, staff, machine, abc):
    assert add(api(staff), "urgent", priority="10").status_code == 201
    assert add(api(staff), "low", priority="-1", pos="front").status_code == 201
    assert names(staff) == ["urgent", "a", "b", "c", "low"]
    # An index inside another priority band is clamped to the edge of the job's own band.
    assert add(api(staff), "urgent2", priority="10", pos="3").status_code == 201
    assert names(staff)[:2] == ["urgent", "urgent2"]
    rel = add(api(staff), "x", priority="10", before_uid=str(abc[0].pk))
    assert rel.status_code == 409 and "priority" in rel.json()["detail"]


def batch(client, files, items=None, **fields):
    data = {"files": [SimpleUploadedFile(f"{n}.gcode", c) for n, c in files], **fields}
    if items is not None:
        import json

        data["items"] = json.dumps(items)
    return client.post("/api/jobs/batch/", data, format="multipart")


def test_batch_add_is_one_block_at_the_location(api, staff, machine, abc):
    response = batch(
        api(staff),
        [("p", gcode()), ("q", gcode())],
        items=[{"name": "p"}, {"name": "q", "material": "PETG"}],
        after_uid=str(abc[0].pk),
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert [j["name"] for j in body] == ["p", "q"]
    assert body[0]["batch_id"] == body[1]["batch_id"] is not None
    assert body[1]["material"] == "PETG"
    assert names(staff) == ["a", "p", "q", "b", "c"]


def test_batch_add_is_all_or_none_with_per_item_results(api, staff, machine, abc, settings):
    response = batch(api(staff), [("good", gcode()), ("bad", gcode(extra="M502")), ("worse", b"\x00\x01")])
    assert response.status_code == 400
    items = response.json()["items"]
    assert [i["success"] for i in items] == [True, False, False]
    assert "M502" in items[1]["reasons"][0]
    assert items[2]["reasons"]
    assert Job.objects.count() == 3  # only a, b, c
    media = Path(settings.MEDIA_ROOT)
    assert not media.exists() or not any(p.is_file() for p in media.rglob("*"))


def test_batch_items_must_match_files(api, staff, machine):
    response = batch(api(staff), [("p", gcode())], items=[{}, {}])
    assert response.status_code == 400 and "items" in response.json()["errors"]


def move(client, job, **fields):
    return client.post(f"/api/jobs/{job.pk}/move/", fields, format="json")


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"pos": "front"}, "cab"),
        ({"pos": "back"}, "abc"),
        ({"pos": 0}, "cab"),
        ({"pos": 1}, "acb"),
        ({"pos": -2}, "acb"),
        ({"before_uid": "A"}, "cab"),
        ({"after_uid": "A"}, "acb"),
    ],
)
def test_move_single(api, staff, abc, fields, expected):
    a = abc[0]
    fields = {k: (str(a.pk) if v == "A" else v) for k, v in fields.items()}
    response = move(api(staff), abc[2], **fields)
    assert response.status_code == 200, response.json()
    assert "".join(names(staff)) == expected
    assert response.json()["version"] == 2


def test_move_errors(api, staff, student, abc):
    client = api(staff)
    assert move(client, abc[0], after_uid=str(abc[0].pk)).status_code == 409
    done = make_job(student, "completed")
    r = move(client, done, pos="front")
    assert r.status_code == 409 and "completed" in r.json()["detail"]
    assert move(api(student), abc[2], pos="front").status_code == 403
    assert "".join(names(staff)) == "abc"


def test_move_batch_keeps_given_order(api, staff, student, abc):
    d = make_job(student, name="d")
    response = api(staff).post(
        "/api/jobs/queue/move/",
        {"uids": [str(d.pk), str(abc[1].pk)], "before_uid": str(abc[0].pk)},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert names(staff) == ["d", "b", "a", "c"]


def test_move_batch_is_all_or_none(api, staff, student, abc):
    printing = make_job(student, "printing")
    response = api(staff).post(
        "/api/jobs/queue/move/", {"uids": [str(abc[2].pk), str(printing.pk)], "pos": "front"}, format="json"
    )
    assert response.status_code == 409
    assert "printing, not waiting" in response.json()["detail"]
    assert names(staff) == ["a", "b", "c"]
    dup = api(staff).post(
        "/api/jobs/queue/move/", {"uids": [str(abc[0].pk)] * 2, "pos": "front"}, format="json"
    )
    assert dup.status_code == 400


def test_repeated_inserts_at_one_spot_renumber_and_keep_order(staff, student):
    first = make_job(student, name="first")
    last = make_job(student, name="last")
    inserted = []
    for i in range(40):  # far more than log2(STEP) midpoint splits
        job = make_job(student, name=f"m{i}")
        queue_move(job=job, location=Location(before=last.pk), user=staff)
        inserted.append(f"m{i}")
    assert names(staff) == ["first", *inserted, "last"]
    positions = [j.position for j in queue_list(user=staff)]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert first.pk


def test_allocate_positions_spreads_evenly_in_a_gap(student):
    make_job(student, position=0)
    make_job(student, position=10)
    assert allocate_positions(priority=0, location=Location(pos=1), count=4) == [2, 4, 6, 8]
    assert allocate_positions(priority=0, location=Location(pos="back"), count=2) == [
        10 + STEP,
        10 + 2 * STEP,
    ]


def test_update_keeps_uuid_and_checks_version(api, student, machine, abc):
    job = abc[0]
    client = api(student)
    response = client.patch(f"/api/jobs/{job.pk}/", {"name": "renamed", "version": 1}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["id"] == str(job.pk) and response.json()["version"] == 2
    stale = client.patch(f"/api/jobs/{job.pk}/", {"name": "again", "version": 1}, format="json")
    assert stale.status_code == 409 and "changed since you read it" in stale.json()["detail"]
    header = client.patch(f"/api/jobs/{job.pk}/", {"notes": "n"}, format="json", HTTP_IF_MATCH='"1"')
    assert header.status_code == 409
    ok = client.patch(f"/api/jobs/{job.pk}/", {"notes": "n"}, format="json", HTTP_IF_MATCH='"2"')
    assert ok.status_code == 200
    event = job.events.order_by("-id").first()
    assert event.kind == "update" and event.extra["changed"]["notes"] == ["", "n"]


def test_update_constraints_is_preflighted(api, student, machine, abc):
    job = abc[0]
    response = api(student).patch(f"/api/jobs/{job.pk}/", {"material": "NYLON"}, format="json")
    assert response.status_code == 400
    assert "NYLON is not loaded" in response.json()["reasons"][0]
    assert api(student).patch(f"/api/jobs/{job.pk}/", {"material": "PETG"}, format="json").status_code == 200


def test_update_refused_once_job_left_the_queue(api, student):
    job = make_job(student, "printing")
    response = api(student).patch(f"/api/jobs/{job.pk}/", {"name": "x"}, format="json")
    assert response.status_code == 409


def test_update_priority_is_staff_only_and_moves_band(api, student, staff, abc):
    assert api(student).patch(f"/api/jobs/{abc[2].pk}/", {"priority": 5}, format="json").status_code == 403
    assert api(staff).patch(f"/api/jobs/{abc[2].pk}/", {"priority": 5}, format="json").status_code == 200
    assert names(staff) == ["c", "a", "b"]


def test_state_cannot_be_set_through_update(api, student, abc):
    response = api(student).patch(f"/api/jobs/{abc[0].pk}/", {"state": "completed"}, format="json")
    # "state" is not an accepted field: DRF drops it, nothing changes
    assert response.status_code == 200
    assert Job.objects.get(pk=abc[0].pk).state == "queued"


def test_remove_single_and_batch(api, student, staff, abc):
    assert api(student).delete(f"/api/jobs/{abc[0].pk}/").status_code == 204
    assert Job.objects.get(pk=abc[0].pk).state == "cancelled"
    printing = make_job(student, "printing")
    r = api(staff).post(
        "/api/jobs/queue/remove/", {"uids": [str(abc[1].pk), str(printing.pk)]}, format="json"
    )
    assert r.status_code == 409
    assert Job.objects.get(pk=abc[1].pk).state == "queued"
    r = api(staff).post("/api/jobs/queue/remove/", {"uids": [str(abc[1].pk), str(abc[2].pk)]}, format="json")
    assert r.status_code == 200 and [j["state"] for j in r.json()] == ["cancelled", "cancelled"]
    assert names(staff) == []


def test_clear_leaves_running_jobs_alone(api, staff, student, abc):
    printing = make_job(student, "printing")
    response = api(staff).post("/api/jobs/queue/clear/")
    assert response.status_code == 200 and response.json()["cleared"] == 3
    assert Job.objects.get(pk=printing.pk).state == "printing"
    assert set(Job.objects.exclude(pk=printing.pk).values_list("state", flat=True)) == {"cancelled"}
    assert all(j.events.filter(to_state="cancelled").exists() for j in abc)
    assert api(student).post("/api/jobs/queue/clear/").status_code == 403


def test_bulk_transition_sends_a_state_change_per_job_and_skips_jobs_that_moved(
    staff, student, abc, django_capture_on_commit_callbacks
):
    """The bulk form keeps job_transition's rules: one signal, event and version step per job."""
    from jobs.services import job_transition_many
    from jobs.signals import job_state_changed
    from jobs.states import ActorKind

    seen = []

    def on_change(sender, job_id, from_state, to_state, **kwargs):
        seen.append((job_id, from_state, to_state))

    job_state_changed.connect(on_change, dispatch_uid="test-bulk-clear")
    try:
        versions = {job.pk: job.version for job in abc}
        printing = make_job(student, "printing")
        with django_capture_on_commit_callbacks(execute=True):
            moved = job_transition_many(
                jobs=[*abc, printing],
                to_state="cancelled",
                actor_kind=ActorKind.USER,
                actor=staff,
                reason="cleared",
                expected_states={"queued"},
            )
    finally:
        job_state_changed.disconnect(dispatch_uid="test-bulk-clear")
    assert sorted(j.pk for j in moved) == sorted(j.pk for j in abc)
    assert sorted(seen) == sorted((j.pk, "queued", "cancelled") for j in abc)
    for job in abc:
        job.refresh_from_db()
        assert job.version == versions[job.pk] + 1 and job.position is None and job.finished_at
        assert job.events.get(to_state="cancelled").reason == "cleared"
    assert Job.objects.get(pk=printing.pk).state == "printing"


def test_history_filters_and_paging(api, staff, student, other_student, machine):
    done = []
    for i in range(5):
        job = make_job(student if i % 2 else other_student, "printing", machine=machine if i < 3 else None)
        job_transition(job=job, to_state="completed" if i < 4 else "failed", actor_kind="reconciler")
        done.append(job)
    make_job(student, "queued")
    client = api(staff)
    body = client.get("/api/jobs/history/", {"limit": 2}).json()
    assert body["count"] == 5 and len(body["results"]) == 2
    assert body["results"][0]["id"] == str(done[-1].pk)  # newest first
    assert client.get("/api/jobs/history/", {"state": "failed"}).json()["count"] == 1
    assert client.get("/api/jobs/history/", {"owner": student.pk}).json()["count"] == 2
    assert client.get("/api/jobs/history/", {"machine": str(machine.pk)}).json()["count"] == 3
    page2 = client.get("/api/jobs/history/", {"limit": 2, "offset": 4}).json()
    assert [r["id"] for r in page2["results"]] == [str(done[0].pk)]
    assert api(student).get("/api/jobs/history/").json()["count"] == 2


def test_start_stop_with_pending_flag(api, staff, student):
    client = api(staff)
    printing = make_job(student, "printing")
    body = client.post("/api/jobs/queue/stop/").json()
    assert body["running"] is True and body["stop_pending"] is True and body["dispatch_allowed"] is False
    assert client.post("/api/jobs/queue/stop/cancel/").json()["stop_pending"] is False
    client.post("/api/jobs/queue/stop/")
    job_transition(job=printing, to_state="completed", actor_kind="reconciler")
    state = QueueState.objects.get(pk=1)
    assert (state.running, state.stop_pending) == (False, False)
    assert client.post("/api/jobs/queue/stop/cancel/").status_code == 409
    assert client.post("/api/jobs/queue/start/").json()["running"] is True
    assert api(student).post("/api/jobs/queue/stop/").status_code == 403


def test_stop_with_nothing_running_stops_at_once(api, staff):
    body = api(staff).post("/api/jobs/queue/stop/").json()
    assert (body["running"], body["stop_pending"]) == (False, False)


def test_lock_freezes_queue_changes(api, staff, student, machine, abc):
    client = api(staff)
    assert client.post("/api/jobs/queue/lock/", {"note": ""}, format="json").status_code == 400
    body = client.post("/api/jobs/queue/lock/", {"note": "maintenance until 14:00"}, format="json").json()
    assert body["locked"] is True and body["locked_by"] == "staff"
    for response in (
        add(api(student), "x"),
        move(client, abc[2], pos="front"),
        api(student).patch(f"/api/jobs/{abc[0].pk}/", {"name": "y"}, format="json"),
        api(student).delete(f"/api/jobs/{abc[0].pk}/"),
        api(student).post(f"/api/jobs/{abc[0].pk}/cancel/"),
        client.post("/api/jobs/queue/clear/"),
    ):
        assert response.status_code == 423, response.content
        assert "maintenance until 14:00" in response.json()["detail"]
    assert names(staff) == ["a", "b", "c"]
    assert api(student).post("/api/jobs/queue/unlock/").status_code == 403
    assert client.post("/api/jobs/queue/unlock/").json()["locked"] is False
    assert move(client, abc[2], pos="front").status_code == 200


def test_approval_flow(api, staff, student, machine, settings):
    settings.JOBS_REQUIRE_APPROVAL = True
    job_id = add(api(student), "x").json()["id"]
    assert Job.objects.get(pk=job_id).state == "awaiting_approval"
    assert api(student).post(f"/api/jobs/{job_id}/approve/").status_code == 403
    approved = api(staff).post(f"/api/jobs/{job_id}/approve/")
    assert approved.status_code == 200 and approved.json()["state"] == "queued"
    again = api(staff).post(f"/api/jobs/{job_id}/approve/")
    assert again.status_code == 409 and "not awaiting_approval" in again.json()["detail"]
    # Staff's own jobs skip approval.
    assert add(api(staff), "y").json()["state"] == "queued"


def test_a_batch_over_the_total_limit_is_413_and_nothing_is_stored(api, staff, machine, settings):
    one = gcode(extra="; padding\n" * 100)
    settings.JOBS_MAX_UPLOAD_BYTES = len(one) + 10  # each file alone is fine
    settings.JOBS_MAX_BATCH_BYTES = len(one) * 2 + 10  # two fit, three do not
    assert batch(api(staff), [("a", one), ("b", one)]).status_code == 201
    before = Job.objects.count()
    response = batch(api(staff), [("c", one), ("d", one), ("e", one)])
    assert response.status_code == 413
    assert response.json()["code"] == "upload_too_large"
    assert "the files together are larger than the batch upload limit" in response.json()["detail"]
    assert Job.objects.count() == before


@pytest.mark.parametrize("django_limit", [100, None], ids=["django-counts-first", "handler-counts"])
def test_a_batch_of_more_than_100_files_is_413_and_nothing_is_stored(
    api, staff, machine, settings, django_limit
):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = django_limit
    before = Job.objects.count()
    response = batch(api(staff), [(f"f{i}", b"G28\n") for i in range(101)])
    assert response.status_code == 413
    assert response.json()["code"] == "upload_too_large"
    assert response.json()["detail"] == "at most 100 files in one upload"
    assert Job.objects.count() == before
    media = Path(settings.MEDIA_ROOT)
    assert not media.exists() or not any(p.is_file() for p in media.rglob("*"))
