"""Numbers as the API spells them, read as canonical E.164 so that one number is one key.

GET /v1/inbound, the persona listing and the reads by id may spell one number differently
(`+14155550100`, `+1 415 5550100`, `14155550100`). Everything past the client compares the
canonical form; a write sends the spelling the account uses (Live.spellings, build_live).
"""

from __future__ import annotations

import re

import phonenumbers

from reconciler.model import Live, LivePersona

# E.164's shape, which the API documents: taken as it is, as every number was before spellings.
_CANONICAL = re.compile(r"\+[1-9][0-9]{0,14}")
# What a spelling may hold besides digits: a leading +, and the separators people write.
_SPELLING = re.compile(r"\+?[0-9 ().\-]+", re.ASCII)


def canonical_number(spelling: str) -> str | None:
    """The canonical E.164 form of a number as the API spells it; None when it cannot be read.

    Letters, extensions, other scripts' digits and numbers that cannot exist are not read:
    guessing could name another number.
    """
    text = spelling.strip()
    if _CANONICAL.fullmatch(text):
        return text  # the usual case; the config declares nothing else
    if not _SPELLING.fullmatch(text):
        return None
    digits = "".join(char for char in text if char.isdigit())
    if not text.startswith("+") and len(digits) == 10:
        # Ten digits with no country code: the API reads them as a US number (its number
        # endpoints say so), never as E.164 with its `+` left out.
        text = "+1" + digits
    try:
        parsed = phonenumbers.parse(text if text.startswith("+") else "+" + text, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def as_read(number: str) -> str:
    """A number as a read of the account shows it: canonical when it can be read."""
    return canonical_number(number) or number


def build_live(
    personas: dict[str, LivePersona], pages: int, inbound: dict[str, str | None]
) -> Live:
    """The live account from the persona listing (and the pages it spans) and GET /v1/inbound,
    whose numbers are keyed as it spells them: two spellings of one number are one number."""
    read = {spelling: canonical_number(spelling) or "" for spelling in inbound}
    return Live(
        personas=personas,
        account_numbers=frozenset(read.values()) - {""},
        pages_read=pages,
        reads=pages + 1,
        inbound_owners={read[n]: owner for n, owner in inbound.items() if owner and read[n]},
        spellings={spelling: number for spelling, number in read.items() if number != spelling},
    )
