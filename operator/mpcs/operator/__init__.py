"""The Kopf operator: handlers for the four MPCS kinds, the planner and provisioning (DESIGN §2)."""
