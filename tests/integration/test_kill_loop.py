"""The kill loop: SIGKILL the dispatcher five times while four render clients work a
200-chunk job, then prove from the chunks' own files that every chunk started once
and ended once.

The moments are random from a seed printed with the result; set
CORRAL_KILL_LOOP_SEED to replay one. Each chunk appends `start PID ATTEMPT` and
`end PID ATTEMPT` (O_APPEND) to its own file: the dispatcher's word is not used.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.farm import Farm, wait_for

CHUNKS = 200
CLIENTS = 4
KILLS = 5


def chunk_command(out: Path, salt: int) -> list[str]:
    """Sleep 0.3-0.9 s, chosen per chunk from its frame and the seed's salt."""
    script = (
        f'f="{out}/{{start}}.txt"; '
        'echo "start $$ $CORRAL_ATTEMPT" >> "$f"; '
        f"sleep 0.$(( ({{start}} * 3 + {salt}) % 7 + 3 )); "
        'echo "end $$ $CORRAL_ATTEMPT" >> "$f"'
    )
    return ["sh", "-c", script]


@pytest.mark.slow
def test_kill_loop_every_chunk_starts_and_ends_exactly_once(
    make_farm: Callable[..., Farm], tmp_path: Path
) -> None:
    seed = int(os.environ.get("CORRAL_KILL_LOOP_SEED") or random.randrange(2**31))
    rng = random.Random(seed)
    print(f"kill loop seed={seed}")
    farm = make_farm("--reconnect-grace-s", "5", "--node-lost-after-s", "5")
    out = tmp_path / "chunks"
    out.mkdir()
    for number in range(CLIENTS):
        farm.client(f"worker{number}", "--reconnect-max-s", "0.5")
    farm.wait_nodes(CLIENTS)
    job = farm.submit(
        title="kill loop", frames=f"1-{CHUNKS}", command=chunk_command(out, rng.randrange(7))
    )
    started = time.monotonic()
    kills: list[float] = []
    for _ in range(KILLS):
        time.sleep(rng.uniform(0.5, 4.0))
        wait_for(lambda: farm.job(job["id"])["chunks"]["running"] > 0, 30, "chunks running")
        assert farm.job(job["id"])["state"] == "running", "the job ended before the kills did"
        farm.stop(signal.SIGKILL)
        kills.append(round(time.monotonic() - started, 2))
        farm.start()
    final = farm.wait_state(job["id"], "done", "failed", timeout_s=90)

    starts: dict[int, list[str]] = {}
    ends: dict[int, list[str]] = {}
    for frame in range(1, CHUNKS + 1):
        path = out / f"{frame}.txt"
        text = path.read_text().splitlines() if path.exists() else []
        starts[frame] = [line for line in text if line.startswith("start ")]
        ends[frame] = [line for line in text if line.startswith("end ")]
    duplicates = sorted(frame for frame, found in starts.items() if len(found) > 1)
    losses = sorted(frame for frame, found in ends.items() if len(found) != 1)
    skipped = final["chunks"]["skipped"]
    reassigned = sum(1 for chunk in farm.chunks(job["id"]) if chunk["attempts"] > 1)
    print(
        f"kill loop seed={seed} chunks={CHUNKS} kills_at_s={kills} duplicates={len(duplicates)} "
        f"losses={len(losses)} skipped={skipped} reassigned_unstarted={reassigned} "
        f"took_s={time.monotonic() - started:.1f}"
    )
    assert final["state"] == "done", final
    assert not duplicates, f"chunks started more than once: {duplicates} (seed {seed})"
    assert not losses, f"chunks without exactly one end: {losses} (seed {seed})"
    assert skipped == 0
    for frame in range(1, CHUNKS + 1):
        assert starts[frame][0].split()[1:] == ends[frame][0].split()[1:], frame
