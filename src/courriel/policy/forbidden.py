"""The sending policy's forbidden categories, recognized in a message's words.

The policy refuses mail that promotes gambling, weapons, pharmacy without
prescription, penny stocks, adult content, crypto-currency schemes, quick
loans and counterfeit goods. These heuristics find the words of each
category in English and French (accents ignored, whole words only) and
say which words triggered which category, so a sender can see why. One
word is a warning (a travel letter may mention a casino); two different
words of one category block the send.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Category → trigger words and phrases, lower-case, without accents.
CATEGORIES: dict[str, tuple[str, ...]] = {
    "gambling": (
        "casino",
        "online casino",
        "casino en ligne",
        "jackpot",
        "roulette",
        "poker",
        "sports betting",
        "paris sportifs",
        "pari sportif",
        "place your bets",
        "free spins",
        "tours gratuits",
        "machines a sous",
        "slot machines",
        "bookmaker",
    ),
    "weapons": (
        "firearms",
        "assault rifle",
        "handgun",
        "ammunition",
        "armes a feu",
        "arme a feu",
        "fusil d'assaut",
        "munitions",
        "silencer",
        "pistolet automatique",
    ),
    "pharmacy": (
        "viagra",
        "cialis",
        "levitra",
        "without prescription",
        "no prescription",
        "sans ordonnance",
        "online pharmacy",
        "pharmacie en ligne",
        "weight loss pills",
        "pilules minceur",
        "tramadol",
        "xanax",
        "oxycodone",
    ),
    "penny stocks": (
        "penny stock",
        "penny stocks",
        "hot stock",
        "stock alert",
        "next big stock",
        "action a fort potentiel",
        "actions a quelques centimes",
        "bourse garantie",
        "guaranteed returns",
        "rendement garanti",
    ),
    "adult": (
        "porn",
        "porno",
        "webcam girls",
        "hot singles",
        "celibataires chaudes",
        "rencontres coquines",
        "adult content",
        "contenu pour adultes",
    ),
    "crypto scams": (
        "bitcoin doubler",
        "double your bitcoin",
        "doublez vos bitcoins",
        "crypto giveaway",
        "guaranteed crypto",
        "crypto garantie",
        "investissement crypto",
        "crypto investment opportunity",
        "send btc",
        "envoyez des bitcoins",
        "seed phrase",
        "phrase de recuperation",
    ),
    "quick loans": (
        "payday loan",
        "payday loans",
        "instant loan",
        "bad credit ok",
        "pret sans justificatif",
        "credit sans justificatif",
        "pret express",
        "rachat de credit immediat",
    ),
    "counterfeit goods": (
        "replica watches",
        "replica handbags",
        "fake rolex",
        "montres de luxe replique",
        "contrefacon",
        "sacs de marque a prix casses",
    ),
}


def plain(text: str) -> str:
    """`text` lower-cased, accents removed, apostrophes unified, spaces collapsed."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().replace("\u2019", "'"))
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.split())


_PATTERNS = {
    category: [(word, re.compile(rf"(?<![\w]){re.escape(word)}(?![\w])")) for word in words]
    for category, words in CATEGORIES.items()
}


@dataclass(frozen=True)
class CategoryHit:
    """A forbidden category and the words of the message that point to it."""

    category: str
    words: list[str]


def forbidden_categories(text: str) -> list[CategoryHit]:
    """The categories `text` touches, each with the words found, in the table's order."""
    normal = plain(text)
    hits = []
    for category, patterns in _PATTERNS.items():
        words = [word for word, pattern in patterns if pattern.search(normal)]
        # "online casino" contains "casino": one finding, the longer words.
        words = [w for w in words if not any(w != o and w in o for o in words)]
        if words:
            hits.append(CategoryHit(category, words))
    return hits
