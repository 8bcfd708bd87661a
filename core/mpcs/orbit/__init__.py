"""Orbit maths: TLEs, reference frames, the Sun and eclipses, passes over a masked horizon, ground
tracks and time formats.

The bottom layer of MPCS: pure functions of their inputs (no I/O, no pydantic, no component), so the
simulator, the operator and the API predict the same pass from the same TLE.
"""
