"""Command lines given as one string, as other farms' APIs take them.

Corral runs a job's command without a shell, so a string is split into its words
as a shell would split it; what only a shell can do (pipes, redirections, command
lists, subshells, command substitution) is found here so that the compatibility
packages can refuse it instead of passing ``|`` to the program as an argument.
"""

import shlex

SHELL_CHARACTERS = frozenset("();<>|&`")


def shell_operator(command: str) -> str:
    """The first unquoted shell operator in ``command`` (``|``, ``>``, ``;``, ``&&``,
    ``(``, a backquote, ...), or "" when it has none (or an unclosed quote)."""
    lexer = shlex.shlex(command, posix=False, punctuation_chars="".join(SHELL_CHARACTERS))
    lexer.commenters = ""
    try:
        for token in lexer:
            if token and set(token) <= SHELL_CHARACTERS:
                return str(token)
    except ValueError:  # an unclosed quote: splitting the command says so
        return ""
    return ""
