"""The render client's engine_event command refuses arguments it cannot run."""

import asyncio
from typing import Any

import pytest

from dispatcher.protocol import Command, Message, Reply
from renderclient.commands import CommandSettings, NodeCommands


class Target:
    nice: int | None = None
    realtime_log = True

    def __init__(self) -> None:
        self.sent: list[Message] = []

    def send(self, message: Message) -> bool:
        self.sent.append(message)
        return True

    def renice_running(self, nice: int) -> list[int]:
        return []

    def heartbeat_now(self) -> None:
        pass

    def environment(self) -> dict[str, str]:
        return {}

    def set_template_config(self, values: dict[str, dict[str, Any]]) -> str:
        return ""


@pytest.mark.parametrize(
    "args",
    [{}, {"event": "WorkFinishedSuccessfulEvt"}, {"event": "", "argv": ["true"]},
     {"event": "E", "argv": []}, {"event": "E", "argv": "true"}, {"event": "E", "argv": [1]},
     {"event": "E", "argv": ["true"], "timeout_s": "soon"}],
)  # fmt: skip
def test_bad_engine_event_commands_are_answered_not_run(args: dict[str, Any]) -> None:
    target = Target()

    async def run() -> None:
        commands = NodeCommands(target, CommandSettings(on_soft_restart=lambda _: None), "test")
        commands.handle(Command("engine_event", args={**args, "request": 7}))
        for _ in range(20):
            await asyncio.sleep(0)
        await commands.close()

    asyncio.run(run())
    assert len(target.sent) == 1
    reply = target.sent[0]
    assert isinstance(reply, Reply) and reply.request == 7 and not reply.ok
    assert reply.output.startswith("bad command")
