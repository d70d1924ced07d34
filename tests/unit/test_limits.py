import pytest

from dispatcher import limits
from dispatcher.errors import LimitExceeded, ValidationError


def test_json_loads_refuses_depth_past_the_limit_without_recursing() -> None:
    depth = limits.MAX_JSON_DEPTH
    assert limits.json_loads("[" * depth + "]" * depth) is not None
    for text in ("[" * (depth + 1) + "]" * (depth + 1), '{"a":' * 200_000 + "1" + "}" * 200_000):
        with pytest.raises(ValidationError, match="nested deeper than"):
            limits.json_loads(text)


def test_deep_json_names_the_top_field() -> None:
    text = '{"title": "t", "data": {"a": ' + "[" * 80 + "]" * 80 + "}}"
    with pytest.raises(ValidationError) as caught:
        limits.json_loads(text)
    assert caught.value.field == "data" and len(str(caught.value)) < 100


@pytest.mark.parametrize(
    ("counts", "queued_now", "limit"),
    [
        ([11], 0, "max_chunks_per_job"),
        ([1, 11], 0, "max_chunks_per_job"),
        ([10, 10, 1], 0, "max_chunks_per_request"),
        ([5], 26, "max_chunks_queued"),
    ],
)
def test_chunk_limits(counts: list[int], queued_now: int, limit: str) -> None:
    bounds = limits.ChunkLimits(per_job=10, per_request=20, queued=30)
    with pytest.raises(LimitExceeded) as caught:
        limits.check_chunks(counts, bounds, queued_now)
    assert caught.value.limit == limit
    limits.check_chunks([10, 10], bounds, 10)  # every limit met exactly


def test_name_and_text_rules() -> None:
    assert limits.text_error("tab\tnew\nline") is None
    assert limits.text_error("a\x00") == "contains a NUL character"
    assert limits.text_error("\udfff") == "contains a lone surrogate"
    assert limits.name_error("ok name é") is None
    assert limits.name_error("a\tb") is not None and limits.name_error("\x85") is not None
