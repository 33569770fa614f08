"""The redactor (flywheel.privacy): each private kind becomes its typed placeholder, photo vocabulary and every intent
of the simulator's world stay as typed, the text stays inside the intent contract, and placeholders survive intent
normalization. No services: pure functions."""

from __future__ import annotations

import pytest

from flywheel.contracts import normalize_intent
from flywheel.privacy import KINDS, PLACEHOLDERS, Redactor, redact
from flywheel.privacy.redactor import MAX_BYTES, MAX_CHARS

FOUND = [
    # (text, redacted text, placeholders per kind)
    ("like the photo john.smith@mail.com sent", "like the photo <EMAIL> sent", {"email": 1}),
    ("ask Zoë.Ünal+photos@example.co.uk", "ask <EMAIL>", {"email": 1}),
    ("see https://example.com/a?b=1, warmer", "see <URL>, warmer", {"url": 1}),
    ("like instagram.com/john_doe please", "like <URL> please", {"url": 1}),
    ("www.example.org!", "<URL>!", {"url": 1}),
    ("card 4111 1111 1111 1111 thanks", "card <CARD> thanks", {"card": 1}),
    ("card 4111111111111111", "card <CARD>", {"card": 1}),
    ("amex 3782 822463 10005", "amex <CARD>", {"card": 1}),
    ("iban DE89 3704 0044 0532 0130 00 please", "iban <IBAN> please", {"iban": 1}),
    ("gb82west12345698765432", "<IBAN>", {"iban": 1}),
    ("call +1 650-253-0000 tonight", "call <PHONE> tonight", {"phone": 1}),
    ("ring 020 7946 0958 or (650) 253-0000", "ring <PHONE> or <PHONE>", {"phone": 2}),
    ("mobile 0151 23456789", "mobile <PHONE>", {"phone": 1}),
    ("appelle 06 12 34 56 78", "appelle <PHONE>", {"phone": 1}),
    ("+33 6 12 34 56 78", "<PHONE>", {"phone": 1}),
    ("server 192.168.1.10 and fe80::1ff:fe23:4567:890a", "server <IP> and <IP>", {"ip": 2}),
    ("my ssn 123-45-6789", "my ssn <NUMBER>", {"number": 1}),
    ("account 1234567890123", "account <NUMBER>", {"number": 1}),
    # printed like a card, fails Luhn: no <CARD>, still not kept
    ("4111 1111 1111 1112", "<NUMBER>", {"number": 1}),
]

KEPT = ["80s retro", "1970s film", "f/1.8", "4k", "iso 800", "80s retro 1970s film f/1.8 4k iso 800",
        "iso 3200 1/250 f/2.8 35mm 5600k", "curve points 0 64 128 192 255", "sizes 1 2 3 4 5 6 7 8 9 10",
        "1920x1080 crop, 2024-05-01 12:30", "photo.jpg with e.g. warmer tones, v1.2.3", "at 10:30:45 golden hour",
        "warm vintage film look", "夕焼けの写真を暖かく", "+2 exposure -15 contrast, 3200k", "rgb(255, 128, 0)",
        "like <EMAIL> but warmer", "golden hour @ the beach", "teal & orange 2.0", "a 50/50 split tone"]


@pytest.mark.parametrize(("text", "expected", "counts"), FOUND)
def test_each_kind_becomes_its_placeholder(text: str, expected: str, counts: dict[str, int]) -> None:
    r = redact(text)
    assert (r.text, r.counts) == (expected, counts)
    assert r.kinds == [k for k in KINDS if k in counts]


@pytest.mark.parametrize("text", KEPT)
def test_photo_vocabulary_stays_as_typed(text: str) -> None:
    r = redact(text)
    assert (r.text, r.counts) == (text, {})


def test_everything_at_once_and_nothing_twice() -> None:
    text = ("like the photo john.smith@mail.com sent, call +1 650-253-0000, card 4111 1111 1111 1111, "
            "iban DE89 3704 0044 0532 0130 00, see https://x.com/a.")
    r = redact(text)
    assert r.text == "like the photo <EMAIL> sent, call <PHONE>, card <CARD>, iban <IBAN>, see <URL>."
    assert r.counts == {"email": 1, "phone": 1, "card": 1, "iban": 1, "url": 1}
    again = redact(r.text)  # placeholders hold no digit, @ or dot: redacting twice changes nothing
    assert (again.text, again.counts) == (r.text, {})


def test_every_world_intent_stays_as_typed() -> None:
    """The simulator's whole catalogue (every base and wording the demo uses), and every word and wrapper of its open
    vocabulary, have nothing private: no false find."""
    from flywheel_lab.simulator import vocab
    from flywheel_lab.simulator.world import build_world

    changed = [i for i, _, _ in build_world(7).catalogue(9000) if redact(i).text != i]
    words = [w for c in (*vocab.HEADS, *vocab.MODIFIERS) for w in c.synonyms]
    words += [w for ws in (*vocab.HELD_OUT_HEADS.values(), *vocab.HELD_OUT_MODIFIERS.values()) for w in ws]
    texts = [t.replace("{x}", w) for t in (*vocab.TEMPLATES, *vocab.NEW_TEMPLATES) for w in words]
    changed += [t for t in texts if redact(t).text != t]
    assert changed == [] and len(texts) > 1000


def test_placeholders_survive_normalization() -> None:
    """docs/domain.md#private-text: a placeholder keeps its letters (an intent never normalizes to empty), and the
    same private-free wording groups with itself whatever the hidden item was."""
    a, b = redact("Like the photo JOHN@mail.com sent!"), redact("like the photo mary@other.org sent")
    assert normalize_intent(a.text) == normalize_intent(b.text) == "like the photo <email> sent"
    for kind, placeholder in PLACEHOLDERS.items():
        assert normalize_intent(placeholder) == kind


def test_the_text_stays_inside_the_intent_contract() -> None:
    # "a@b.co" (6 characters) becomes "<EMAIL>" (7): 2000 characters of them would break the 2000 limit.
    r = redact(" ".join(["a@b.co"] * 285))  # 1994 characters as typed
    assert r.counts == {"email": 285} and len(r.text) <= MAX_CHARS and len(r.text.encode()) <= MAX_BYTES
    wide = redact("夕" * 1300 + " a@b.co" * 20)
    assert len(wide.text.encode()) <= MAX_BYTES and wide.counts == {"email": 20}


def test_phone_regions_are_a_setting() -> None:
    text = "call 0151 23456789"  # a German mobile number in national form
    assert Redactor(phone_regions=("DE",)).redact(text).counts == {"phone": 1}
    # US-only: not a phone number there, and its 11 digits are split by a space: left as typed
    assert Redactor(phone_regions=("US",)).redact(text).counts == {}
    # with its country prefix it is found whatever the regions
    assert Redactor(phone_regions=("US",)).redact("call +49 151 23456789").counts == {"phone": 1}
