"""`python -m mpcs.cli …`: how the dev runner and the tests start a component as the image would."""

from mpcs.cli import app

app()
