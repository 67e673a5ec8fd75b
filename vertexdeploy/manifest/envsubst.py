"""``${VAR}`` and ``${VAR:-default}`` substitution, bounded so a short line cannot name a
huge variable many times over; ``$${`` is a literal ``${``."""

from __future__ import annotations

import re
from collections.abc import Mapping

_ENV_REF = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ExpansionTooLarge(ValueError):
    """Substitution would make a value longer than the limit it was given."""


def substitute_env(
    text: str, env: Mapping[str, str], limit: int | None = None
) -> tuple[str, list[str]]:
    """Replace ${VAR} and ${VAR:-default}; return the text and the names left unset.

    With ``limit``, raise ExpansionTooLarge as soon as the result would pass ``limit``
    characters, before building it: one short line can name a huge variable many times.
    """
    missing: list[str] = []
    grown = 0

    def repl(m: re.Match[str]) -> str:
        nonlocal grown
        if m.group(0) == "$${":
            return "${"
        name, default = m.group(1), m.group(2)
        if name in env:
            out = env[name]
        elif default is not None:
            out = default
        else:
            missing.append(name)
            return m.group(0)
        grown += len(out)
        if limit is not None and grown > limit:
            raise ExpansionTooLarge(name)
        return out

    return _ENV_REF.sub(repl, text), missing
