"""`flywheel bench redact`: what the assistant's redactor (flywheel.privacy) adds to each request, in microseconds.

Realistic intents: the simulator world's catalogue as users type it (bases, wordings, wrappers), some with photo
numbers added ("f/1.8", "iso 800", "5600k": digits that wake the number detectors up and must stay), a share with
private items of every kind in several national formats (valid cards and IBANs, so the checks run to the end), and
a few long ones near the 2000-character limit. Every intent is redacted once untimed, then timed one call at a time
over ``rounds`` passes; the goal is p95 <= 1 ms per intent.
"""

from __future__ import annotations

import random
import statistics
import time
from dataclasses import dataclass, field

from stdnum import iban, luhn

from flywheel.privacy import Redactor
from flywheel_lab.simulator.world import build_world

GOAL_P95_US = 1000.0
PHOTO_NUMBERS = ["f/1.8", "iso 800", "5600k", "1/250", "35mm", "+2 exposure", "80s", "1970s film", "4k",
                 "contrast -15", "rgb 255 128 0", "curve 0 64 128 192 255"]
TEMPLATES = ["{i} like the photo {email} sent", "{i}, call me on {phone} if unsure", "{i} as on {url}",
             "{i}; pay with {card}", "{i} and refund {iban} please", "{i} for {email} (tel {phone})",
             "{i} like {url}, questions to {email}", "{i} from server {ip}"]
FIRST = ["john", "mary", "zoe", "li", "ahmed", "anna", "peter", "sofia"]
DOMAINS = ["mail.com", "example.org", "photos.example.co.uk", "web.de", "gmail.com"]


def _phone(rng: random.Random) -> str:
    n = rng.randint(0, 9999)
    return rng.choice([f"+1 650-253-{n:04d}", f"(650) 253-{n:04d}", f"020 7946 {n:04d}", f"+44 20 7946 {n:04d}",
                       f"0151 2345{n:04d}", f"06 12 34 {n // 100:02d} {n % 100:02d}", f"+49 30 90{n:04d}"])


def _card(rng: random.Random) -> str:
    body = rng.choice(["4", "51", "37"]) + "".join(rng.choice("0123456789") for _ in range(13))
    digits = body[:15] + luhn.calc_check_digit(body[:15])
    return rng.choice([digits, " ".join(digits[i:i + 4] for i in range(0, 16, 4))])


def _iban(rng: random.Random) -> str:
    country, length = rng.choice([("DE", 18), ("FR", 23), ("NL", 14), ("GB", 18)])
    bban = "".join(rng.choice("0123456789") for _ in range(length))
    if country in ("NL", "GB"):
        bban = "ABNA" + bban[4:] if country == "NL" else "WEST" + bban[4:]
    number = country + iban.calc_check_digits(country + "00" + bban) + bban
    return rng.choice([number, " ".join(number[i:i + 4] for i in range(0, len(number), 4))])


def _private(intent: str, rng: random.Random) -> str:
    name = rng.choice(FIRST)
    return rng.choice(TEMPLATES).format(
        i=intent, email=f"{name}.{rng.randint(1, 99)}@{rng.choice(DOMAINS)}", phone=_phone(rng),
        url=rng.choice([f"https://{rng.choice(DOMAINS)}/{name}/{rng.randint(1, 9999)}", f"www.{name}photos.com",
                        f"instagram.com/{name}_{rng.randint(1, 99)}"]),
        card=_card(rng), iban=_iban(rng), ip=f"192.168.{rng.randint(0, 255)}.{rng.randint(1, 254)}")


def realistic_intents(*, n: int, seed: int, private_share: float, long_share: float) -> list[tuple[str, str]]:
    """(class, intent): ``clean`` (world intents, a third with photo numbers), ``private`` and ``long``."""
    rng = random.Random(seed)
    world = [text for text, _, _ in build_world(seed).catalogue(min(n, 9000))]
    out: list[tuple[str, str]] = []
    for _ in range(n):
        intent = rng.choice(world)
        if rng.random() < 1 / 3:
            intent = f"{intent} {rng.choice(PHOTO_NUMBERS)}"
        r = rng.random()
        if r < private_share:
            out.append(("private", _private(intent, rng)))
        elif r < private_share + long_share:
            parts = [intent]
            while len(", ".join(parts)) < 1800:
                parts.append(rng.choice(world) if rng.random() > .2 else _private(rng.choice(world), rng))
            out.append(("long", ", ".join(parts)[:2000]))
        else:
            out.append(("clean", intent))
    return out


@dataclass
class ClassTimes:
    n: int
    p50_us: float
    p95_us: float
    p99_us: float
    max_us: float


@dataclass
class RedactBench:
    intents: int
    rounds: int
    first_call_us: float  # the process's first call: libphonenumber loads its region metadata
    overall: ClassTimes
    by_class: dict[str, ClassTimes]
    found: dict[str, int] = field(default_factory=dict)  # placeholders per kind over one pass

    @property
    def meets_goal(self) -> bool:
        return self.overall.p95_us <= GOAL_P95_US


def _times(values: list[float]) -> ClassTimes:
    xs = sorted(values)
    q = statistics.quantiles(xs, n=100, method="inclusive") if len(xs) > 1 else xs * 99
    return ClassTimes(len(xs), q[49], q[94], q[98], xs[-1])


def run_bench(*, n: int = 5000, seed: int = 0, rounds: int = 3, private_share: float = 0.1,
              long_share: float = 0.01) -> RedactBench:
    data = realistic_intents(n=n, seed=seed, private_share=private_share, long_share=long_share)
    redactor = Redactor()
    t0 = time.perf_counter_ns()
    redactor.redact(data[0][1] + " +1 650-253-0000")
    first = (time.perf_counter_ns() - t0) / 1000
    found: dict[str, int] = {}
    for _, intent in data:  # warm: every code path once
        for kind, c in redactor.redact(intent).counts.items():
            found[kind] = found.get(kind, 0) + c
    per_class: dict[str, list[float]] = {}
    for _ in range(rounds):
        for cls, intent in data:
            t = time.perf_counter_ns()
            redactor.redact(intent)
            per_class.setdefault(cls, []).append((time.perf_counter_ns() - t) / 1000)
    return RedactBench(len(data), rounds, first, _times([x for xs in per_class.values() for x in xs]),
                       {cls: _times(xs) for cls, xs in sorted(per_class.items())}, found)
