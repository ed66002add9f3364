"""Checks a relying party's handling of what real users do to a security key, with a virtual
contactless card driven through the reader-bridge control endpoint.

Each test starts a fresh card (`card` fixture, conftest.py); `rp_app.RelyingParty` stands for
your RP's code. The card is scripted only through `card.control`:
- `presence` auto | deny | manual | wait (ms): how the "user" answers presence requests;
- `touch`: the user touches the card; `remove` / `insert` / `tap`: the card leaves the field.
"""

from __future__ import annotations

import threading

from fido2.ctap2 import ClientPin, Ctap2
from fido2.ctap import CtapError
from fido2.webauthn import UserVerificationRequirement

from rp_app import CARD_REMOVED, DENIED, OK, PIN_BLOCKED, TIMEOUT, RelyingParty

PIN = "246810"


def test_register_then_sign_in(card):
    rp = RelyingParty()
    with card.connected() as device:
        assert rp.register(device, "alice") == OK
        assert rp.sign_in(device, "alice") == OK


def test_register_and_sign_in_waiting_for_the_touch(card):
    card.control.ok("presence", mode="manual")
    rp = RelyingParty()
    outcome = {}
    with card.connected() as device:
        thread = threading.Thread(target=lambda: outcome.update(r=rp.register(device, "alice")))
        thread.start()
        assert card.control.wait_for_presence_request()["request"] == "makeCredential"
        card.control.ok("touch")
        thread.join(30)
        assert outcome["r"] == OK


def test_a_denied_touch(card):
    rp = RelyingParty()
    with card.connected() as device:
        assert rp.register(device, "alice") == OK
        card.control.ok("presence", mode="deny")
        assert rp.sign_in(device, "alice") == DENIED
        assert rp.register(device, "bob") == DENIED


def test_the_user_never_touches(card):
    card.control.ok("presence", mode="wait", ms=500)
    rp = RelyingParty()
    with card.connected() as device:
        assert rp.register(device, "alice") == TIMEOUT


def test_the_card_is_taken_away_mid_ceremony(card):
    rp = RelyingParty()
    device = card.device()
    assert rp.register(device, "alice") == OK
    card.control.ok("presence", mode="manual")
    outcome = {}
    thread = threading.Thread(target=lambda: outcome.update(r=rp.sign_in(device, "alice")))
    thread.start()
    card.control.wait_for_presence_request()
    card.control.ok("remove")
    thread.join(30)
    assert outcome["r"] == CARD_REMOVED
    try:
        device.close()
    except Exception:  # noqa: BLE001 - the card is gone
        pass
    # Back in the field, the account still works: nothing was lost.
    card.control.ok("presence", mode="auto")
    card.control.ok("insert")
    with card.connected() as device:
        assert rp.sign_in(device, "alice") == OK


def test_a_pin_blocked_card(card):
    device = card.device()
    ClientPin(Ctap2(device)).set_pin(PIN)
    # Wrong PINs until the card blocks it; after three in a row it wants a new power-up first
    # (CTAP 2.1 §6.5.5.7): the user taps the card again.
    for _ in range(12):
        try:
            ClientPin(Ctap2(device)).get_pin_token("000000")
        except CtapError as e:
            if e.code == CtapError.ERR.PIN_BLOCKED:
                break
            if e.code == CtapError.ERR.PIN_AUTH_BLOCKED:
                device.close()
                card.control.ok("tap")
                device = card.device()
                continue
            assert e.code == CtapError.ERR.PIN_INVALID, e
    else:
        raise AssertionError("the PIN never blocked")
    try:
        rp = RelyingParty()
        assert rp.register(device, "carol", pin=PIN,
                           user_verification=UserVerificationRequirement.REQUIRED) == PIN_BLOCKED
    finally:
        device.close()
