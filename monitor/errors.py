"""The root of ccmon's own errors and the one table of exit statuses.

Every error ccmon raises on purpose (a config it cannot use, a store file it cannot open,
an SMTP server that refuses) derives from :class:`MonitorError` and names the exit status
a command ends with when the error reaches it (:attr:`MonitorError.exit_code`). The CLI
turns any of them into one line on standard error and that status (``monitor.cli.main``);
a traceback is left for bugs.

The statuses follow the Nagios plugin convention, which `ccmon check` and `ccmon precheck`
are: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. The other commands use the same numbers in
the same spirit: 3 when the command could not do its job because of what it was given
(the config, a flag, the input), 1 when something at run time failed (the store, the
listen address), 0 for success. docs/config.md lists :data:`EXIT_CODES` (a test compares).
"""

from __future__ import annotations

EXIT_OK = 0
#: `ccmon check`/`precheck`: the worst zone is WARNING.
EXIT_WARNING = 1
#: `ccmon run`, `demo`: a run-time failure (store, listen address); `healthcheck`: unhealthy.
EXIT_FAILURE = 1
#: `ccmon check`/`precheck`: a finding of ERROR or CRITICAL.
EXIT_CRITICAL = 2
#: `ccmon check`/`precheck`: nothing could be judged (no measurement, deadline reached).
EXIT_UNKNOWN = 3
#: Every command: a config, flag or input that cannot be used, or a test not done
#: (`ccmon test-email`); the message names the file, line and key when there is one.
EXIT_CONFIG = 3
#: Ctrl-C (SIGINT), as shells report it: 128 + 2.
EXIT_INTERRUPTED = 130

#: Status, name, when: the table docs/config.md shows ("Exit status").
EXIT_CODES: tuple[tuple[int, str, str], ...] = (
    (EXIT_OK, "OK", "success; `ccmon check`: every zone OK; `ccmon run`: stopped by "
                    "SIGTERM or SIGINT"),
    (EXIT_WARNING, "WARNING / FAILURE", "`ccmon check`, `precheck`: the worst zone is WARNING; "
                                        "`ccmon run`, `demo`: the store or the listen address "
                                        "cannot be used; `ccmon healthcheck`: not healthy"),
    (EXIT_CRITICAL, "CRITICAL", "`ccmon check`, `precheck`: a finding of ERROR or CRITICAL"),
    (EXIT_UNKNOWN, "UNKNOWN / CONFIG", "a config, web-config, flag or input that cannot be "
                                       "used (one line naming file, line and key); `ccmon "
                                       "check`: nothing measured or the deadline reached; "
                                       "`ccmon test-email`: not sent; `ccmon report`: bad "
                                       "period, store or output"),
    (EXIT_INTERRUPTED, "INTERRUPTED", "a one-shot command (`check`, `report`, ...) stopped by "
                                      "Ctrl-C; `ccmon run` stops cleanly with 0"),
)


def exit_codes_markdown() -> str:
    """:data:`EXIT_CODES` as the Markdown table docs/config.md carries."""
    rows = [f"| {code} | {name} | {when} |" for code, name, when in EXIT_CODES]
    return "\n".join(["| status | name | when |", "| --- | --- | --- |", *rows]) + "\n"


class MonitorError(Exception):
    """An error ccmon expects and explains in one line; ends a command with `exit_code`."""

    exit_code: int = EXIT_FAILURE


class InputError(MonitorError):
    """What the command was given (config, flag, input) cannot be used: exit 3."""

    exit_code = EXIT_CONFIG
