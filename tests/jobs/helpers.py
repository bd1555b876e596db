from __future__ import annotations

import struct
import uuid
import zlib

from jobs.models import Job, JobEvent
from jobs.services import STEP
from jobs.states import QUEUE_STATES


def make_job(owner, state="queued", *, priority=0, position=None, machine=None, name="job") -> Job:
    """A job row in any state, for state-machine tests that do not need a file."""
    job_id = uuid.uuid4()
    if position is None and state in QUEUE_STATES:
        last = Job.objects.filter(state__in=QUEUE_STATES, priority=priority).order_by("-position").first()
        position = (last.position + STEP) if last else 0
    job = Job.objects.create(
        id=job_id,
        owner=owner,
        name=name,
        printer_file_name=f"{job_id}.gcode",
        state=state,
        priority=priority,
        position=position,
        machine=machine,
    )
    JobEvent.objects.create(job=job, kind="created", to_state=state, actor_kind="system")
    return job


def bgcode(
    *, gcode_text: bytes, metadata: bytes = b"printer_model=MK4\nnozzle_diameter=0.4\n", gcode_compression=1
) -> bytes:
    """A binary G-code file: header, printer-metadata block, one G-code block (deflate or plain), CRC32s."""

    def block(block_type: int, compression: int, payload: bytes, params: bytes = b"\x00\x00") -> bytes:
        data = zlib.compress(payload) if compression == 1 else payload
        header = struct.pack("<HHI", block_type, compression, len(payload))
        if compression:
            header += struct.pack("<I", len(data))
        body = header + params + data
        return body + struct.pack("<I", zlib.crc32(body))

    return (
        b"GCDE" + struct.pack("<IH", 1, 1) + block(3, 0, metadata) + block(1, gcode_compression, gcode_text)
    )
