"""A rule-based answer-type tagger for short answers (error_detection.md §6.5, abstention.md §8):
the types foils and MCQ items are matched on.

Answer types (`answer_type`) are deterministic rules over module-level tables, first match wins:

    1. the answer's shape: date (month or weekday names, "5 May", "May 1945", "11/07/1979"),
       year (1000-2099 alone, decades "1960s", centuries "19th century", "44 BC"; a bare number
       up to 2099 when the question asks for a year; a bare 1000-2099 number is a number when the
       question asks "how many/much/old/long/far"), number (digits, number words, roman numerals
       of I/V/X in capitals, a number followed by a unit word, or any leading number when the
       question asks for a count);
    2. the answer's words: organisation (suffixes FC/United/Ltd/Party/University/..., prefixes
       "University of"/"Bank of"/...), place (suffixes River/Island/City/..., prefixes
       Lake/Mount/Cape/..., a built-in list of countries, continents and big cities, or
       "<name>, <country>");
    3. the question's noun cue: the first person, place or organisation noun within four words
       after "which"/"what"/"whose" ("which English monarch", "what Canadian city", "which pop
       group"), if the answer is name-like (one to four capitalised words);
    4. a titled name: a title Sir/King/Saint/... before a name, or a name followed by a regnal
       numeral ("Henry VIII") → person (after the cue, so "St Helena" for "which island" is a place);
    5. the question's interrogative wh-word: "who/whom/whose" → person, "where" → place, for
       name-like answers only (a relative "women who are trained" is no cue);
    6. other.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from interp.tasks.grading import normalize_answer

__all__ = ["ANSWER_TYPES", "answer_type"]


ANSWER_TYPES: tuple[str, ...] = ("year", "date", "number", "person", "place", "organisation", "other")
"""The tags of `answer_type`, in no particular order of precedence (see the module docstring)."""

# --------------------------------------------------------------------------------------------
# Rule tables
# --------------------------------------------------------------------------------------------


def _table(words: str) -> frozenset[str]:
    """A rule table from a space-separated string of lower-case words."""
    return frozenset(words.split())


FULL_MONTHS = _table("january february march april may june july august september october november december")
MONTHS = FULL_MONTHS | _table("jan feb mar apr jun jul aug sep sept oct nov dec")
"""Month names; an abbreviation alone ("Jan") is no date, with a day or year ("Jan 1999") it is."""
WEEKDAYS = _table("monday tuesday wednesday thursday friday saturday sunday")

NUMBER_WORDS = _table(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand million "
    "billion trillion dozen half"
)
NUMBER_FILLERS = frozenset({"a", "and"})
"""Words allowed inside a number phrase ("a hundred", "one hundred and eight") but not alone."""

UNITS = _table(
    "metres meters metre meter m km kilometres kilometers kilometre kilometer cm mm centimetres millimetres miles "
    "mile mi feet foot ft inches inch yards yard kg kilograms kilogram grams gram g tons tonnes ton tonne pounds "
    "pound lbs lb ounces ounce oz litres liters litre liter pints pint gallons gallon degrees degree percent per "
    "cent % years year months month weeks week days day hours hour minutes minute seconds second mph kph knots knot "
    "dollars dollar pence penny pennies cents cent euros euro shillings shilling guineas guinea times points goals "
    "runs caps wickets players people men women sides"
)
"""Words that may follow a number in a number answer ("1500 metres", "two metres per second")."""

COUNT_CUE = re.compile(r"\bhow\s+(many|much|old|long|far|tall|high|deep|wide|big|heavy|often)\b|\bwhat\s+(number|percentage|age)\b")
YEAR_CUE = re.compile(r"\b(which|what)\s+(\w+\s+)?year\b|\bin\s+(\w+\s+)?year\b|\bwhen\b")

ORGANISATION_SUFFIXES = _table(
    "fc afc cf sc united rovers wanderers athletic albion hotspur ltd limited inc incorporated corp corporation "
    "company co plc llc gmbh ag group party university college school academy institute institution society "
    "association union league council committee club bank airlines airline airways motors records studios studio "
    "foundation trust agency bureau commission federation organisation organization orchestra band brothers corps "
    "legion army navy ministry department church choir"
)
ORGANISATION_PREFIXES = _table("university bank college church ministry department order house")
"""First words of "<word> of ..." organisation names ("University of Oxford", "Bank of England")."""

PLACE_SUFFIXES = _table(
    "river lake loch lough mountain mountains mount island islands isle isles archipelago atoll city town village "
    "sea ocean bay gulf strait straits channel valley desert peninsula canal falls forest coast county shire "
    "province state states republic kingdom empire street road avenue square cathedral abbey castle palace airport "
    "station harbour harbor reef glacier volcano"
)
PLACE_PREFIXES = _table("lake loch lough mount mt cape gulf isle isles bay strait sea river port fort republic kingdom")
"""First words of multi-word place names ("Lake Placid", "Mount Everest", "Gulf of Aden")."""

PLACES = frozenset(
    normalize_answer(name)
    for name in (
        # countries
        "Afghanistan", "Algeria", "Argentina", "Australia", "Austria", "Belgium", "Bolivia", "Brazil", "Bulgaria",
        "Canada", "Chile", "China", "Colombia", "Croatia", "Cuba", "Czech Republic", "Denmark", "Egypt", "England",
        "Ethiopia", "Finland", "France", "Germany", "Ghana", "Greece", "Haiti", "Hungary", "Iceland", "India",
        "Indonesia", "Iran", "Iraq", "Ireland", "Israel", "Italy", "Jamaica", "Japan", "Kenya", "Madagascar",
        "Malaysia", "Mexico", "Morocco", "Nepal", "Netherlands", "Holland", "New Zealand", "Nigeria", "North Korea",
        "Norway", "Pakistan", "Peru", "Philippines", "Poland", "Portugal", "Romania", "Russia", "Saudi Arabia",
        "Scotland", "Senegal", "Singapore", "South Africa", "South Korea", "Spain", "Sri Lanka", "Sweden",
        "Switzerland", "Thailand", "Tonga", "Turkey", "Ukraine", "United Kingdom", "UK", "Great Britain", "Britain",
        "United States", "USA", "US", "America", "Vietnam", "Wales", "Zimbabwe",
        # continents
        "Africa", "Asia", "Europe", "North America", "South America", "Antarctica", "Oceania",
        # big cities
        "Amsterdam", "Athens", "Bangkok", "Beijing", "Berlin", "Cairo", "Chicago", "Dublin", "Edinburgh", "Glasgow",
        "Hong Kong", "Istanbul", "Jerusalem", "Lisbon", "London", "Los Angeles", "Madrid", "Manchester", "Melbourne",
        "Montreal", "Moscow", "Mumbai", "Nairobi", "New York", "Paris", "Prague", "Rome", "San Francisco", "Sydney",
        "Tokyo", "Toronto", "Venice", "Vienna", "Washington",
    )
)
"""Countries, continents and big cities tagged "place" from the answer alone (normalised)."""

PERSON_TITLES = _table(
    "sir dame madam madame lord lady king queen prince princess saint st pope president emperor empress tsar czar "
    "tsarina sultan pharaoh archbishop bishop cardinal dr doctor mr mrs ms miss captain admiral colonel "
    "marshal baron baroness duke duchess earl count countess"
)
"""Words before a name that make an answer a person ("Sir Walter Raleigh", "King Edward III")."""

REGNAL = re.compile(r"^(?:[IVX]{1,5}|[IVX]{1,4}th|1st|2nd|3rd|\d{1,2}th)$")

PERSON_NOUNS = _table(
    "actor actress singer songwriter singer-songwriter rapper musician guitarist drummer pianist composer conductor "
    "king queen monarch ruler president minister chancellor premier politician mp leader dictator emperor empress "
    "pope saint god goddess apostle prophet pharaoh tsar czar sultan prince princess duke duchess author writer "
    "novelist poet playwright dramatist artist painter sculptor photographer architect designer footballer "
    "sportsman sportswoman player cricketer golfer boxer wrestler athlete jockey driver cyclist swimmer tennis "
    "scientist physicist chemist mathematician astronomer inventor explorer philosopher economist comedian "
    "comedienne presenter journalist broadcaster editor dancer ballerina model director producer general admiral "
    "commander soldier man woman person girl boy lady contestant master manager coach captain character wife "
    "husband son daughter brother sister mother father chef astronaut cosmonaut detective villain hero heroine spy "
    "murderer saint"
)
PLACE_NOUNS = _table(
    "country nation city town village capital river lake loch island islands isle archipelago atoll state county "
    "province region continent mountain mountains volcano sea ocean bay gulf strait desert port harbour airport "
    "street venue stadium racecourse resort"
)
ORGANISATION_NOUNS = _table(
    "team club company corporation firm manufacturer brand band group duo trio party organisation organization "
    "airline newspaper retailer supermarket charity orchestra university college school"
)
NOUN_CUE = re.compile(r"\b(?:which|what|whose)((?:\s+[\w'-]+){1,4})")
"""A wh-word and the up to four words after it; the first cue noun among them is the head."""

WH_PERSON = re.compile(r"""(?:^|[,;:"(“‘]\s*|\band\s+|\bby\s+)(?:who|whom|whose)\b|\b(?:who|whom)\s*\?\s*$""")
WH_PLACE = re.compile(r"""(?:^|[,;:"(“‘]\s*|\band\s+|\bfrom\s+)where\b|\bwhere\s*['’]?\s*\?\s*$""")
"""Interrogative who/where: at the start of the question or of a clause, or last before "?"
(a relative "the women who are trained" is no cue)."""

CONNECTORS = _table("of the and de la le du del da von van der den y al el on upon in &")
"""Lower-case words allowed inside a name-like answer ("Republic of Madagascar")."""


# --------------------------------------------------------------------------------------------
# Tagger
# --------------------------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    """The answer's words: parentheticals dropped, surrounding punctuation stripped."""
    text = re.sub(r"\([^)]*\)?", " ", str(text))
    words = [w.strip(".,;:!?\"'‘’“”`()[]{}") for w in text.split()]
    return [w for w in words if w]


def _is_number_phrase(words: Sequence[str]) -> bool:
    tokens = [t for w in words for t in w.lower().split("-") if t]
    return bool(tokens) and all(t in NUMBER_WORDS or t in NUMBER_FILLERS for t in tokens) and any(t in NUMBER_WORDS for t in tokens)


_DIGITS = re.compile(r"^[-+]?[$£€¥]?\d[\d,]*(?:\.\d+)?(?:%|st|nd|rd|th|k|m|bn)?$", re.IGNORECASE)
_ROMAN = re.compile(r"^(?=[IVX]{2,}$)X{0,3}(?:IX|IV|V?I{0,3})$")
_NUMERIC_DATE = re.compile(r"^\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}$")
_ORDINAL = re.compile(r"^\d{1,2}(?:st|nd|rd|th)?$", re.IGNORECASE)
_YEARISH = re.compile(r"^\d{3,4}$")


def _leading_number(words: Sequence[str]) -> int:
    """How many leading words form a number (digits or number words); 0 if none."""
    if words and _DIGITS.match(words[0]):
        return 1
    for end in range(len(words), 0, -1):
        if _is_number_phrase(words[:end]):
            return end
    return 0


def _is_date(words: Sequence[str]) -> bool:
    lowered = [w.lower() for w in words if w.lower() not in ("the", "of", "on")]
    if len(lowered) == 1 and _NUMERIC_DATE.match(lowered[0]):
        return True
    if not lowered or len(lowered) > 4:
        return False
    if len(lowered) == 1:
        return lowered[0] in FULL_MONTHS or lowered[0] in WEEKDAYS
    months = [i for i, w in enumerate(lowered) if w in MONTHS]
    if len(months) != 1:
        return False
    rest = [w for i, w in enumerate(lowered) if i != months[0] and w not in WEEKDAYS]
    return bool(rest) and all(_ORDINAL.match(w) or _YEARISH.match(w) for w in rest)


def _year_or_number(words: Sequence[str], question: str) -> str | None:
    joined = " ".join(words).lower()
    count_cue = bool(COUNT_CUE.search(question))
    if re.fullmatch(r"\d{3,4}", joined):
        value = int(joined)
        if 1000 <= value <= 2099 and not count_cue:
            return "year"
        if value <= 2099 and YEAR_CUE.search(question) and not count_cue:
            return "year"
    if re.fullmatch(r"\d{3,4}\s?['’]?s|\d{1,2}(?:st|nd|rd|th)\s+century(?:\s+(?:bc|ad|bce|ce))?|(?:ad\s+)?\d{1,4}\s+(?:bc|ad|bce|ce)|ad\s+\d{1,4}", joined):
        return "year"
    lead = _leading_number(words)
    if lead == len(words) and lead:
        return "number"
    if len(words) == 1 and _ROMAN.match(words[0]):
        return "number"
    if lead and (count_cue or words[lead].lower() in UNITS):
        return "number"
    return None


def _name_like(words: Sequence[str]) -> bool:
    """One to four capitalised words, lower-case connectors aside."""
    content = [w for w in words if w.lower() not in CONNECTORS or w[:1].isupper()]
    return 1 <= len(content) <= 4 and all(w[:1].isupper() for w in content) and not all(w.lower() in CONNECTORS for w in words)


def _answer_words_type(words: Sequence[str], text: str) -> str | None:
    """Organisation or place from the answer's own words (suffixes, prefixes, the place list)."""
    lowered = [w.lower() for w in words]
    if len(words) >= 2 and (lowered[-1] in ORGANISATION_SUFFIXES or (lowered[0] in ORGANISATION_PREFIXES and lowered[1] == "of")):
        return "organisation"
    normalised = normalize_answer(text)
    if normalised in PLACES or normalize_answer(" ".join(words)) in PLACES:
        return "place"
    parts = [normalize_answer(p) for p in str(text).split(",")]
    if len(parts) == 2 and parts[0] and parts[1] in PLACES:
        return "place"
    if len(words) >= 2 and (lowered[-1] in PLACE_SUFFIXES or lowered[0] in PLACE_PREFIXES) and _name_like(words):
        return "place"
    return None


def _is_titled_name(words: Sequence[str]) -> bool:
    """A title before a name ("Sir Walter Raleigh") or a name before a regnal numeral ("Henry VIII")."""
    if len(words) >= 2 and words[0].lower() in PERSON_TITLES and _name_like(words[1:]):
        return True
    return 2 <= len(words) <= 4 and bool(REGNAL.match(words[-1])) and _name_like(words[:-1])


def _question_cue(question: str) -> str | None:
    """The type named by the first cue noun after which/what/whose, else None."""
    best: tuple[int, str] | None = None
    for match in NOUN_CUE.finditer(question):
        for offset, word in enumerate(match.group(1).split()):
            word = word.strip("'").lower()
            word = word.removesuffix("'s")
            for kind, nouns in (("person", PERSON_NOUNS), ("place", PLACE_NOUNS), ("organisation", ORGANISATION_NOUNS)):
                if word in nouns:
                    position = match.start(1) + offset
                    if best is None or position < best[0]:
                        best = (position, kind)
                    break
            else:
                continue
            break
    return best[1] if best else None


def answer_type(text: str, question: str | None = None) -> str:
    """The answer type of `text` (one of `ANSWER_TYPES`), the question (if given) as a cue.

    Rules, first match wins: the answer's shape (date, year, number), the answer's words
    (organisation, place), the question's noun cue ("which English monarch"), a titled name
    (person), the question's wh-word ("who", "where"), else "other". See the module docstring.
    """
    words = _words(text)
    if not words:
        return "other"
    cue_text = " ".join(str(question or "").lower().split())
    if _is_date(words):
        return "date"
    shaped = _year_or_number(words, cue_text)
    if shaped:
        return shaped
    from_words = _answer_words_type(words, text)
    if from_words:
        return from_words
    cue = _question_cue(cue_text) if cue_text and _name_like(words) else None
    if cue:
        return cue
    if _is_titled_name(words):
        return "person"
    if not cue_text or not _name_like(words):
        return "other"
    if WH_PERSON.search(cue_text):
        return "person"
    if WH_PLACE.search(cue_text):
        return "place"
    return "other"
