"""Shell completion for ``kubectl-ferry``: bash and zsh scripts made from the command line's own
parser by shtab (so every command and option added there completes without a word here), and
the names of the rollouts, which a hidden command lists with the user's kubeconfig.

The scripts complete the executable ``kubectl-ferry`` (as Argo Rollouts' complete
``kubectl-argo-rollouts``). Writes nothing, reads nothing: the caller prints the script.
shtab is imported only to write a script: every command builds the parser, and shtab's
import (~50 ms) would slow them all, the hidden one a completion runs on each <TAB> first.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

SHELLS = ("bash", "zsh")
EXECUTABLE = "kubectl-ferry"
NAMES_COMMAND = "__rollouts"
"""The hidden command that prints the rollouts' names, one a line (none when they cannot be
listed: completing never prints an error)."""
ROLLOUT_NAMES = f"{EXECUTABLE} {NAMES_COMMAND} 2>/dev/null"
"""The shell command that completes a rollout's name: the names in the current context's
namespace."""

HEADER = {
    "bash": f"""\
# bash completion for {EXECUTABLE} (kubectl ferry). Load it in this shell:
#   source <({EXECUTABLE} completion bash)
# or for every shell: {EXECUTABLE} completion bash > /etc/bash_completion.d/{EXECUTABLE}
""",
    "zsh": f"""\
#compdef {EXECUTABLE}
# zsh completion for {EXECUTABLE} (kubectl ferry), with compinit loaded
# (autoload -U compinit; compinit). Load it in this shell:
#   eval "$({EXECUTABLE} completion zsh)"
# or for every shell: {EXECUTABLE} completion zsh > "${{fpath[1]}}/_{EXECUTABLE}"
""",
}


def rollout_names(action: argparse.Action) -> None:
    """Complete ``action`` (a rollout's name) with the names of the rollouts (:func:`script`
    turns the mark into shtab's completer)."""
    action.complete = ROLLOUT_NAMES  # type: ignore[attr-defined]  # shtab reads this attribute


def _actions(parser: argparse.ArgumentParser) -> Iterator[argparse.Action]:
    """The options and arguments of ``parser`` and of its subcommands."""
    for action in parser._actions:
        yield action
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):  # an alias repeats its parser
                yield from _actions(sub)


def script(parser: argparse.ArgumentParser, shell: str) -> str:
    """The completion script for ``shell`` (one of :data:`SHELLS`) of ``parser``, whose prog
    must be :data:`EXECUTABLE`."""
    import shtab  # here only: see the module's docstring

    if shell not in SHELLS:
        raise ValueError(f"unknown shell {shell!r} (known: {', '.join(SHELLS)})")
    for action in _actions(parser):
        if getattr(action, "complete", None) == ROLLOUT_NAMES:
            action.complete = shtab.cmd(ROLLOUT_NAMES)  # type: ignore[attr-defined]
    body = str(shtab.complete(parser, shell=shell))
    if shell == "zsh" and body.startswith("#compdef"):
        body = body.split("\n", 1)[1]  # the header names it
    return HEADER[shell] + body.rstrip() + "\n"
