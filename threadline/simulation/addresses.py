"""Postal addresses for simulated customers: a street, a city and a postal code of their country.

Households share one (two people, one flat); a customer's second account carries
the same one, which is what lets data hygiene suspect a duplicate.
"""

from __future__ import annotations

import random
from typing import Any

# country code -> (cities with their postal code stem, streets, postal code digits)
_PLACES: dict[str, tuple[tuple[tuple[str, str], ...], tuple[str, ...], int]] = {
    "US": ((("New York", "100"), ("Chicago", "606"), ("Seattle", "981"), ("Austin", "787")),
           ("Main Street", "Oak Avenue", "Maple Drive", "Cedar Lane", "Park Road"), 5),
    "GB": ((("London", "SW1A "), ("Manchester", "M1 "), ("Leeds", "LS1 "), ("Bristol", "BS1 ")),
           ("High Street", "Station Road", "Church Lane", "Victoria Road", "Green Lane"), 5),
    "DE": ((("Berlin", "10"), ("München", "80"), ("Hamburg", "20"), ("Köln", "50")),
           ("Hauptstraße", "Schulstraße", "Gartenweg", "Bahnhofstraße", "Lindenallee"), 5),
    "FR": ((("Paris", "75"), ("Lyon", "69"), ("Marseille", "13"), ("Lille", "59")),
           ("Rue de la Paix", "Avenue Victor Hugo", "Rue Pasteur", "Boulevard Voltaire"), 5),
    "JP": ((("Tokyo", "100-"), ("Osaka", "530-"), ("Kyoto", "600-"), ("Sapporo", "060-")),
           ("Chuo-dori", "Sakura-dori", "Meiji-dori", "Aoyama-dori"), 8),
    "BR": ((("São Paulo", "01"), ("Rio de Janeiro", "20"), ("Curitiba", "80"), ("Recife", "50")),
           ("Rua das Flores", "Avenida Paulista", "Rua Augusta", "Rua XV de Novembro"), 9),
    "CA": ((("Toronto", "M5V "), ("Vancouver", "V6B "), ("Montréal", "H2X "), ("Calgary", "T2P ")),
           ("King Street", "Queen Street", "Maple Avenue", "Bay Street"), 7),
    "AU": ((("Sydney", "20"), ("Melbourne", "30"), ("Brisbane", "40"), ("Perth", "60")),
           ("George Street", "Collins Street", "Queen Street", "Hay Street"), 4),
}  # fmt: skip


def draw_address(rng: random.Random, country: str) -> dict[str, Any]:
    """A Segment ``address`` trait: street, city, postalCode, country."""
    cities, streets, digits = _PLACES[country]
    city, stem = rng.choice(cities)
    tail = "".join(str(rng.randrange(10)) for _ in range(digits - len(stem.rstrip(" -"))))
    if stem.endswith(" "):  # British and Canadian codes: "SW1A 2AA"
        tail = f"{rng.randrange(10)}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}{rng.choice('ABDEFGHJ')}"
    return {
        "street": f"{rng.randint(1, 180)} {rng.choice(streets)}",
        "city": city,
        "postalCode": stem + tail,
        "country": country,
    }
