"""`python -m mpcs.core.commands > docs/commands.md` regenerates the command document."""

from .document import render_markdown

print(render_markdown(), end="")
