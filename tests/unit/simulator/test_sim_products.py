"""Payload products: CAPTURE_IMAGE records what the camera saw, START_DOWNLINK in a pass brings
the images down, and each comes out once as a product whose PNG shows the ground under the sun."""

from __future__ import annotations

from typing import Any

import pytest
from simdata import TOULOUSE, make_craft
from utils.png import read_gray_png

from mpcs.core.commands import AckState, Command
from mpcs.orbit.passes import predict_passes
from mpcs.orbit.timeutil import NS_PER_S
from mpcs.simulator import Spacecraft
from mpcs.simulator.imaging import SIZE_PX, render_pixels

OK = [AckState.ACCEPTED, AckState.EXECUTED]


def send(craft: Spacecraft, name: str, **args: Any) -> list[AckState]:
    command = Command(satellite="sat-1", name=name, args=args, issued_by="test")
    return [ack.state for ack in craft.execute(command)]


def to_contact(craft: Spacecraft) -> None:
    nxt = predict_passes(craft.engine.tles[0], TOULOUSE, craft.time_ns, 86_400)[0]
    craft.advance((nxt.tca_ns - craft.time_ns) / NS_PER_S)
    assert craft.telemetry()["comms"]["in_contact"] is True


def test_captured_images_come_down_with_the_pass_once_each() -> None:
    craft = make_craft()
    assert send(craft, "SET_MODE", mode="PAYLOAD") == OK
    where = craft.telemetry()["orbit"]
    captured_ns = craft.time_ns
    assert send(craft, "CAPTURE_IMAGE", count=3) == OK
    assert craft.take_products() == []  # still on board
    send(craft, "SET_MODE", mode="NOMINAL")
    to_contact(craft)
    assert send(craft, "START_DOWNLINK", duration_s=120) == OK
    products = craft.take_products()
    assert [p.image_number for p in products] == [1, 2, 3]
    for product in products:
        assert product.satellite == "sat-1"
        assert product.capture_time_ns == captured_ns
        assert product.lat_deg == pytest.approx(where["lat_deg"], abs=1e-9)
        assert product.lon_deg == pytest.approx(where["lon_deg"], abs=1e-9)
        assert product.downlink_time_ns == craft.time_ns
        assert product.station == "tls"
        image = read_gray_png(product.png)
        assert (image.width, image.height) == (SIZE_PX, SIZE_PX)
    assert len({p.product_id for p in products}) == 3
    assert craft.take_products() == []  # each product is handed out once


def test_a_downlink_out_of_contact_keeps_the_images_on_board() -> None:
    craft = make_craft()
    send(craft, "SET_MODE", mode="PAYLOAD")
    send(craft, "CAPTURE_IMAGE", count=1)
    assert send(craft, "START_DOWNLINK")[-1] is AckState.FAILED
    assert craft.take_products() == []
    assert len(craft.engine.onboard_images[0]) == 1


def test_a_targeted_image_is_centred_on_the_target() -> None:
    craft = make_craft()
    send(craft, "SET_MODE", mode="PAYLOAD")
    send(craft, "SET_ATTITUDE", mode="TARGET", target_lat_deg=43.6, target_lon_deg=1.44)
    craft.advance(60)  # the ADCS flies the commanded attitude from the next step
    send(craft, "CAPTURE_IMAGE", count=1)
    image = craft.engine.onboard_images[0][0]
    assert (image.lat_deg, image.lon_deg) == (43.6, 1.44)


def test_the_picture_follows_the_sun_and_the_seed() -> None:
    def mean(sun_elevation_deg: float, seed_key: int = 11, lat: float = 10.0) -> float:
        pixels = render_pixels(
            lat_deg=lat,
            lon_deg=20.0,
            sun_elevation_deg=sun_elevation_deg,
            seed_key=seed_key,
            number=1,
        )
        return sum(pixels) / len(pixels)

    assert mean(60.0) > 4 * mean(5.0)
    assert mean(-20.0) < 6.0  # night: sensor noise around the dark level only
    same = dict(lat_deg=10.0, lon_deg=20.0, sun_elevation_deg=40.0, number=1)
    assert render_pixels(**same, seed_key=11) == render_pixels(**same, seed_key=11)
    assert render_pixels(**same, seed_key=11) != render_pixels(**same, seed_key=12)
    assert mean(40.0, lat=10.0) != mean(40.0, lat=30.0)  # another place, another ground
