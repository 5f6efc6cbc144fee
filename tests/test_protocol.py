from __future__ import annotations

import pytest
from pydantic import ValidationError

from market.journal import parse_envelope
from protocol.canonical import canonical_json, signing_bytes
from protocol.errors import BadSignature, InvalidMessage, UnknownSigner
from protocol.messages import Cancel, Order
from protocol.signing import KeyDirectory, KeyPair, Signed
from protocol.units import slot_of, slot_start, value_ueur, value_ueur_ceil


def _order(**kw) -> Order:
    base = dict(sender="a", nonce=1, order_id="o1", slot=100, zone="f1", side="buy",
                quantity_wh=500, price=200_000)
    base.update(kw)
    return Order(**base)


def test_slot_arithmetic_is_utc_quarter_hours():
    assert slot_of(0) == 0
    assert slot_of(899) == 0
    assert slot_of(900) == 1
    assert slot_start(slot_of(1_464_220_800)) == 1_464_220_800  # 2016-05-26 00:00 UTC


def test_value_rounding_is_one_rule_for_payer_and_payee():
    assert value_ueur(1500, 200_000) == 300_000
    assert value_ueur(1, 1) == 0
    assert value_ueur_ceil(1, 1) == 1
    assert value_ueur(-1, 1) == -1  # floors towards minus infinity, deterministically


def test_canonical_bytes_are_independent_of_field_order():
    a = _order()
    b = Order(price=200_000, quantity_wh=500, side="buy", zone="f1", slot=100, order_id="o1",
              nonce=1, sender="a")
    assert canonical_json(a) == canonical_json(b)
    assert signing_bytes(a).startswith(b"flexmarket/v1/Order\n")


def test_sign_and_verify_round_trip_through_json():
    key = KeyPair.from_seed(b"k")
    d = KeyDirectory()
    d.add("a", key.public_hex, "home", "f1")
    env = key.sign(_order())
    parsed = parse_envelope(env.to_json())
    assert parsed.message == env.message
    d.verify(parsed, "a")


def test_tampered_message_fails_verification_with_typed_error():
    key = KeyPair.from_seed(b"k")
    d = KeyDirectory()
    d.add("a", key.public_hex, "home", "f1")
    env = key.sign(_order())
    forged = Signed[Order](message=_order(quantity_wh=5000), signature=env.signature)
    with pytest.raises(BadSignature):
        d.verify(forged, "a")
    with pytest.raises(UnknownSigner):
        d.verify(env, "nobody")


def test_signature_of_one_type_never_verifies_as_another():
    key = KeyPair.from_seed(b"k")
    d = KeyDirectory()
    d.add("a", key.public_hex, "home", "f1")
    sig = key.sign(Cancel(sender="a", nonce=1, order_id="o1")).signature
    with pytest.raises(BadSignature):
        d.verify(Signed[Order](message=_order(), signature=sig), "a")


@pytest.mark.parametrize(
    "change, fragment",
    [
        ({"quantity_wh": -5}, "quantity_wh"),
        ({"quantity_wh": 0}, "quantity_wh"),
        ({"price": 10**9}, "price"),
        ({"side": "hold"}, "side"),
        ({"slot": -1}, "slot"),
    ],
)
def test_malformed_orders_are_rejected_with_a_reason(change, fragment):
    with pytest.raises(ValidationError):
        _order(**change)
    body = _order().model_dump(mode="json") | change
    raw = Signed[Order].model_construct(message=Order.model_construct(**body),
                                        signature="00" * 64)
    with pytest.raises(InvalidMessage) as exc:
        parse_envelope(raw.model_dump_json())
    assert fragment in exc.value.reason


def test_unparseable_input_is_an_invalid_message_not_a_crash():
    for raw in (b"", b"{", b"[]", b'{"message": {"type": "nope"}, "signature": "00"}'):
        with pytest.raises(InvalidMessage):
            parse_envelope(raw)


def test_cached_digest_never_survives_a_changed_copy():
    key = KeyPair.from_seed(b"k")
    env = key.sign(_order())
    original = env.digest()
    changed = env.model_copy(update={"message": _order(quantity_wh=9)})
    assert changed.digest() != original
    assert env.digest() == original
    assert parse_envelope(env.to_json()).digest() == original
