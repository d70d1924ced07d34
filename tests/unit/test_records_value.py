"""Records.value: one setting of a record, read without copying the record."""

from __future__ import annotations

import pytest

from dispatcher.errors import ValidationError
from dispatcher.records import Records
from dispatcher.store.memory import MemoryStore


def test_value_reads_one_key_of_the_stored_record() -> None:
    records = Records(MemoryStore())
    records.put("config", "engine:n1", {"onsuccess": "echo ok", "count": 3})
    assert records.value("config", "engine:n1", "onsuccess") == "echo ok"
    assert records.value("config", "engine:n1", "count") == 3
    assert records.value("config", "engine:n1", "missing") is None
    assert records.value("config", "engine:other", "onsuccess") is None
    records.put("config", "engine:n1", {"onsuccess": "echo changed"})
    assert records.value("config", "engine:n1", "onsuccess") == "echo changed"
    assert records.value("config", "engine:n1", "count") is None
    with pytest.raises(ValidationError):
        records.value("nokind", "engine:n1", "onsuccess")
