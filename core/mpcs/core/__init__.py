"""Contracts shared by every MPCS component: names, message schemas, settings and the CLI root."""
