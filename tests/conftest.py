"""What every tier shares: the suite's processes take Ctrl-C as a user's terminal does."""

from __future__ import annotations

import signal

# A suite started in the background by a non-interactive shell (`make test &`, nohup)
# inherits SIGINT ignored, and so would every `corral` it starts: the tests that press
# Ctrl-C on a command would wait for ever. A Python handler is reset to the default on
# exec, so the commands the tests start take SIGINT again.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
