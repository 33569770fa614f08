"""Intent text -> the same text with private parts replaced by typed placeholders (docs/domain.md#private-text).

Kinds, in the order they are looked for (an earlier kind's placeholder hides its text from the later ones, so an
e-mail's domain is not also a URL and a card's digits are not also a phone number):

* ``email``  ``<EMAIL>``  local@domain.tld
* ``url``    ``<URL>``    scheme:// or www. links, and bare host names under a common top-level domain
* ``iban``   ``<IBAN>``   country code + check digits + account, valid by python-stdnum (country length, mod 97)
* ``card``   ``<CARD>``   13 to 19 digits, together or grouped as cards print them, that pass the Luhn check
* ``ip``     ``<IP>``     IPv4 and IPv6 addresses (checked by ``ipaddress``)
* ``phone``  ``<PHONE>``  numbers libphonenumber (phonenumberslite) calls valid in any of ``phone_regions``, or in
  the country their ``+`` prefix names, with their digits grouped as that country writes them (STRICT_GROUPING: so
  "curve 0 64 128 192 255" or "sizes 1 2 3 4 5 6 7 8 9 10" is no phone number)
* ``number`` ``<NUMBER>`` any other run of 9 or more digits (dots or dashes between, no spaces), and anything printed
  like a card that fails the Luhn check: account, customer and national ID numbers, other countries' phone numbers

Photo vocabulary stays: "80s retro", "1970s film", "f/1.8", "4k", "iso 800", "1/250", "35mm", "5600k" have too few
digits to be any of these. Street addresses and names are not detected: no maintained library finds them offline
without a language model (see README.md, "Private text").

Everything is offline and per call: no model, no network, no state but the compiled patterns.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

import phonenumbers as pn
from stdnum import iban as _iban
from stdnum import luhn as _luhn

KINDS = ("email", "url", "iban", "card", "ip", "phone", "number")
PLACEHOLDERS = {kind: f"<{kind.upper()}>" for kind in KINDS}
# Where the users are; a number written with its +country prefix is found whatever this says. Each region costs one
# more libphonenumber parse (~30 us) of each run of 6+ digits; most intents have none.
DEFAULT_PHONE_REGIONS = ("US", "GB", "DE", "FR")
# The intent contract (intent_submitted.v1.json): a placeholder can be longer than what it hides ("a@b.co").
MAX_CHARS, MAX_BYTES = 2000, 4096
MIN_PHONE_DIGITS = 6  # fewer digits in the whole text: no phone number can be in it, skip libphonenumber

_EMAIL = re.compile(r"[\w.+%'-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}")
# Top-level domains a bare host name may end in. Left out on purpose: those that are English words or photo
# terms ("at", "be", "in", "is", "it", "me", "no", "to", "photo") and file extensions ("zip", "mov").
_TLDS = ("com|net|org|edu|gov|mil|int|io|co|ai|app|dev|info|biz|xyz|site|online|shop|store|blog|tech|cloud|art|"
         "eu|uk|de|fr|es|nl|ch|se|dk|fi|pl|cz|pt|ie|gr|hu|ro|ru|ua|cn|jp|kr|tw|hk|sg|au|nz|ca|br|mx|ar|cl|za|tv|"
         "ly|gl|gg|fm")
# Possessive labels (*+): no backtracking inside a word, which made this the slowest pattern on long intents.
_URL = re.compile(
    r"(?:\b(?:https?|ftp)://|\bwww\.)[^\s<>\"']+"
    r"|(?<![\w.@-])[a-z0-9][a-z0-9-]*+(?:\.[a-z0-9][a-z0-9-]*+)*"
    rf"\.(?:{_TLDS})\b(?!\.\w)(?::[0-9]{{2,5}})?(?:/[^\s<>\"']*)?",
    re.IGNORECASE)
_URL_HINT = re.compile(rf"[a-z0-9]\.(?:{_TLDS})\b|://|www\.", re.IGNORECASE)
_URL_TRAIL = ".,;:!?)]}'\""
_IBAN = re.compile(r"\b[a-zA-Z]{2}[0-9]{2}(?:[ -]?[a-zA-Z0-9]){11,30}(?![\w])")
# As cards are printed: all digits together, in fours (Visa, Mastercard, ...), or 4-6-4/5 (Diners, Amex).
_CARD = re.compile(r"(?<![\w.,/])(?:[0-9]{13,19}|[0-9]{4}(?:[ -][0-9]{4}){2,3}(?:[ -][0-9]{1,3})?"
                   r"|[0-9]{4}[ -][0-9]{6}[ -][0-9]{4,5})(?![\w]|[.,/][0-9])")
_IPV4 = re.compile(r"(?<![\w.])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?!\.?\w)")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}(?![\w:])", re.IGNORECASE)
# Cheap first looks (a third of the full patterns' time on long intents): most intents have neither.
_IPV4_HINT = re.compile(r"[0-9]\.[0-9]{1,3}\.[0-9]")
_IPV6_HINT = re.compile(r"[0-9a-fA-F]?:[0-9a-fA-F]*:")
# Not across spaces: "curve 64 128 192 255" is a list of values, not one number.
_NUMBER = re.compile(r"(?<![\w.,/])\d(?:[.-]?\d){8,}(?![\w]|[.,/]\d)")
_DIGIT = re.compile(r"\d")
_DIGIT_GROUPS = re.compile(r"\d+")
# What a phone number can look like before libphonenumber says whether it is one: 6+ digits, phone punctuation between.
_PHONE_RUN = re.compile(r"[+(]?\d(?:[ \t().\-/]{0,3}\d){5,}\)?")


@dataclass(frozen=True, slots=True)
class Redaction:
    """The text to use from here on, and how many placeholders of each kind it holds (only kinds found)."""

    text: str
    counts: dict[str, int]

    @property
    def kinds(self) -> list[str]:
        return [k for k in KINDS if k in self.counts]


class Redactor:
    """Thread-safe (no state changes after construction): the assistant keeps one for every request."""

    def __init__(self, *, phone_regions: tuple[str, ...] = DEFAULT_PHONE_REGIONS, max_chars: int = MAX_CHARS,
                 max_bytes: int = MAX_BYTES) -> None:
        self.phone_regions = tuple(r.upper() for r in phone_regions)
        self.max_chars, self.max_bytes = max_chars, max_bytes

    def warm(self) -> None:
        """Load libphonenumber's metadata of the regions now (~25 ms), not during a user's first request."""
        for region in self.phone_regions:
            example = pn.example_number(region)
            if example is not None:
                self.redact(pn.format_number(example, pn.PhoneNumberFormat.NATIONAL))

    def redact(self, text: str) -> Redaction:
        counts: dict[str, int] = {}
        if "@" in text:
            text = _sub(_EMAIL, text, "email", counts, _accept_all)
        if "." in text and _URL_HINT.search(text):
            text = _sub(_URL, text, "url", counts, _trim_url)
        digits = len(_DIGIT.findall(text))
        if digits >= 2:
            if digits >= 8:  # an IBAN (Norway's, the shortest: 13 digits) or a card (13 to 19) has more
                text = _sub(_IBAN, text, "iban", counts, _valid_iban)
                text = _sub(_CARD, text, "card", counts, _valid_card)
                # Printed like a card yet no valid one (a typo, a cut-off number): still nobody's business.
                text = _sub(_CARD, text, "number", counts, _accept_all)
            if "." in text and _IPV4_HINT.search(text):
                text = _sub(_IPV4, text, "ip", counts, _valid_ip)
            if ":" in text and _IPV6_HINT.search(text):
                text = _sub(_IPV6, text, "ip", counts, _valid_ipv6)
            digits = len(_DIGIT.findall(text))
            if digits >= MIN_PHONE_DIGITS:
                text = self._phones(text, counts)
            if digits >= 9:
                text = _sub(_NUMBER, text, "number", counts, _accept_all)
        return Redaction(_fit(text, self.max_chars, self.max_bytes) if counts else text, counts)

    def _phones(self, text: str, counts: dict[str, int]) -> str:
        # libphonenumber's matcher costs ~0.5 ms per region over a sentence: it only reads the digit runs that could
        # be a phone number (6+ digits, phone punctuation between), region by region until one finds it.
        def replace(m: re.Match[str]) -> str:
            found = m.group()
            spans = self._phone_spans(found)
            if not spans:
                return found
            counts["phone"] = counts.get("phone", 0) + len(spans)
            out, at = [], 0
            for start, end in spans:
                out += [found[at:start], PLACEHOLDERS["phone"]]
                at = end
            out.append(found[at:])
            return "".join(out)

        return _PHONE_RUN.sub(replace, text)

    def _phone_spans(self, run: str) -> list[tuple[int, int]]:
        # parse + is_valid_number + the formatted grouping (~30 us a region) first, in every region; libphonenumber's
        # matcher (~100-400 us) only where the number is valid yet written in another grouping, to check that one.
        # A "+" number parses the same in every region, so one region is enough for it.
        regions = self.phone_regions[:1] if run.lstrip("( ").startswith("+") else self.phone_regions
        valid_in = []
        for region in regions:
            try:
                number = pn.parse(run, region)
            except pn.NumberParseException:
                continue
            if pn.is_valid_number(number):
                if _written_as_formatted(run, number):
                    return [(0, len(run))]
                valid_in.append(region)
        for region in valid_in:
            spans = [(m.start, m.end) for m in pn.PhoneNumberMatcher(run, region, leniency=pn.Leniency.STRICT_GROUPING)]
            if spans:
                return spans
        return []


def _written_as_formatted(run: str, number: pn.PhoneNumber) -> bool:
    """The run is the number with its digits together or grouped exactly as libphonenumber formats it (what
    STRICT_GROUPING accepts first); anything else goes to the matcher, which knows the other groupings."""
    groups = _DIGIT_GROUPS.findall(run)
    if len(groups) == 1:
        return True
    return any(_DIGIT_GROUPS.findall(pn.format_number(number, fmt)) == groups
               for fmt in (pn.PhoneNumberFormat.NATIONAL, pn.PhoneNumberFormat.INTERNATIONAL))


# What a candidate match keeps: the length of its text that is the private item (0: none of it is; keep the text).
Check = Callable[[str], int]


def _sub(pattern: re.Pattern[str], text: str, kind: str, counts: dict[str, int], check: Check) -> str:
    placeholder = PLACEHOLDERS[kind]

    def replace(m: re.Match[str]) -> str:
        found = m.group()
        keep = check(found)
        if not keep:
            return found
        counts[kind] = counts.get(kind, 0) + 1
        return placeholder + found[keep:]

    return pattern.sub(replace, text)


def _accept_all(found: str) -> int:
    return len(found)


def _trim_url(found: str) -> int:
    # Sentence punctuation after a link is the sentence's, not the link's.
    return len(found.rstrip(_URL_TRAIL))


def _valid_iban(found: str) -> int:
    # The pattern can run on into the next group of a following number; the IBAN is the longest valid prefix that
    # ends at a separator (or the whole candidate).
    ends = [m.start() for m in re.finditer(r"[ -]", found)] + [len(found)]
    for end in reversed(ends):
        if end < 15:
            break
        if _iban.is_valid(found[:end]):
            return end
    return 0


def _valid_card(found: str) -> int:
    digits = found.replace(" ", "").replace("-", "")
    return len(found) if 13 <= len(digits) <= 19 and _luhn.is_valid(digits) else 0


def _valid_ip(found: str) -> int:
    try:
        ipaddress.IPv4Address(found)
    except ValueError:
        return 0
    return len(found)


def _valid_ipv6(found: str) -> int:
    # "::" and clock times ("10:30:45") are no address: a real one has at least two hex groups and parses.
    if sum(1 for part in found.split(":") if part) < 2:
        return 0
    try:
        ipaddress.IPv6Address(found)
    except ValueError:
        return 0
    return len(found)


def _fit(text: str, max_chars: int, max_bytes: int) -> str:
    """Cut to the intent contract's limits: placeholders for tiny items ("a@b.co") can make the text longer."""
    if len(text) <= max_chars and len(text.encode("utf-8")) <= max_bytes:
        return text
    text = text[:max_chars]
    while len(text.encode("utf-8")) > max_bytes:
        text = text[: len(text) - max(1, (len(text.encode("utf-8")) - max_bytes) // 4)]
    return text


_DEFAULT: Redactor | None = None


def redact(text: str) -> Redaction:
    """`Redactor().redact(text)` with the default regions."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Redactor()
    return _DEFAULT.redact(text)
