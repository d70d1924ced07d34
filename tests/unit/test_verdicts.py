"""MTemplateError read the Muster way, the job's logs error check type, log blocks,
progress and frame patterns, and declared outputs (the pure parts of chunk outcomes)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hooks.api.objects import MJob
from hooks.api.template import MTemplateError
from renderclient.chunklog import ChunkLog, LogScanner, expected_outputs
from renderclient.verdicts import Judgement, classify, skips

E = MTemplateError


def aborting(code: int = 2, text: str = "crashed") -> MTemplateError:
    error = E(code, text, E.kTemplateErrorTypeError)
    error.addErrorAction(E.kTemplateErrorAbortRender)
    return error


def test_the_type_decides() -> None:
    assert classify("onCheckLog", None).kind == "ok"
    assert classify("onCheckLog", E()).kind == "ok"
    assert classify("onCheckLog", E(0, "", E.kTemplateErrorTypeError)).kind == "ok"
    error = classify("onCheckLog", E(4, "bad normal"))
    assert (error.kind, error.message, error.aborts) == ("error", "onCheckLog: bad normal", False)
    warning = classify("onCheckLog", E(1, "texture", E.kTemplateErrorTypeWarning))
    assert (warning.kind, warning.message) == ("warning", "onCheckLog: texture")
    assert classify("x", E(0, "just so", E.kTemplateErrorTypeInfo)).kind == "info"
    assert classify("x", E(0, "", E.kTemplateErrorTypeWarning)).kind == "ok"
    assert classify("x", "nope").kind == "error"


def test_actions_name_what_follows_an_error_only() -> None:
    verdict = classify("onCheckLog", aborting())
    assert verdict.aborts and verdict.actions == ("abort_render",)
    several = E(3, "node broken")
    for action in (E.kTemplateErrorExcludeNode, E.kTemplateErrorPauseJob, 99):
        several.addErrorAction(action)
    assert classify("x", several).actions == ("exclude_node", "pause_job")
    warned = E(1, "w", E.kTemplateErrorTypeWarning)
    warned.addErrorAction(E.kTemplateErrorAbortRender)
    assert not classify("x", warned).aborts


def test_judgement_counts_and_the_jobs_check_type() -> None:
    judgement = Judgement()
    judgement.add(classify("a", E(1, "w", E.kTemplateErrorTypeWarning)))
    judgement.add(classify("b", E(0, "note", E.kTemplateErrorTypeInfo)))
    assert judgement.ok and judgement.warnings == ["a: w"] and judgement.notes == ["b: note"]
    judgement.add(classify("c", E(1, "w2", E.kTemplateErrorTypeWarning)), skip_warnings=True)
    assert len(judgement.warnings) == 1
    judgement.add(classify("d", E(5, "err")), skip_errors=True)
    assert judgement.ok and judgement.error_count == 1
    judgement.add(classify("e", aborting()), skip_errors=True)  # an abort is never skipped
    assert not judgement.ok and judgement.actions == ["abort_render"]
    assert judgement.message == "e: crashed" and judgement.error_count == 2


@pytest.mark.parametrize(
    ("check", "expected"),
    [(None, (False, False)), (MJob.kSkipWarnings, (True, False)),
     (MJob.kSkipErrors, (False, True)), (MJob.kSkipAll, (True, True))],
)  # fmt: skip
def test_skips_read_the_jobs_logs_error_check_type(
    check: int | None, expected: tuple[bool, bool]
) -> None:
    job = MJob({"data": {} if check is None else {"logs_error_check": check}})
    assert skips(job) == expected


def test_chunk_log_hands_out_complete_lines_and_keeps_the_whole_log() -> None:
    log = ChunkLog(max_bytes=1000, tail_bytes=100)
    try:
        log.add(b"first line\nsecond ")
        assert log.take_block() == "first line\n" and log.take_block() == ""
        log.add(b"half\n")
        assert log.take_block() == "second half\n"
        log.add(b"no end")
        assert log.take_block(final=True) == "no end"
        assert log.whole() == "first line\nsecond half\nno end"
    finally:
        log.close()


def test_chunk_log_past_its_cap_keeps_head_and_tail() -> None:
    log = ChunkLog(max_bytes=1000, tail_bytes=100)
    try:
        log.add(b"SUCCESS\n" + b"a" * 2000 + b"\nLAST LINE\n")
        whole = log.whole()
        assert whole.startswith("SUCCESS\n") and whole.endswith("LAST LINE\n")
        assert "bytes of the log left out" in whole and len(whole) < 1100
    finally:
        log.close()


def test_scanner_reads_progress_and_frames_across_blocks() -> None:
    scanner = LogScanner(r"(\d+)% done", r"^Saved frame \d+")
    assert scanner.scan("10% done\n20% done\n") and scanner.percent == 20.0
    assert not scanner.scan("nothing here\n")
    assert scanner.scan("Saved frame 1\nxx Saved frame 9\nSaved frame 2\n")
    assert scanner.frames == 2 and scanner.scan("250% done\n") and scanner.percent == 100.0
    broken = LogScanner("(", "ok")
    assert broken.errors and not broken.reads_progress and broken.active
    assert LogScanner("no group").errors


def test_expected_outputs_fill_attributes_and_padded_frames() -> None:
    job = MJob({"data": {"output_folder": "/out"}})
    frames = [Decimal(9), Decimal(10)]
    assert expected_outputs("{output_folder}/f_####.png", job, frames) == [
        "/out/f_0009.png",
        "/out/f_0010.png",
    ]
    assert expected_outputs("{output_folder}/f{frame}.{nothing}exr", job, [Decimal(3)]) == [
        "/out/f3.exr"
    ]
