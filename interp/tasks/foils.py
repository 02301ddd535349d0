"""Wrong answers of graded plausibility ("foils") for TriviaQA questions, and the rule-based answer
type tagger they are matched on (error_detection.md §6.5 and §8, abstention.md §6.1 and §8).

For each question `build_foils` gives three foils:

    hard       a wrong answer the model itself sampled at T = 1 (the first valid one), else the
               gold answer of the most related other question of the same answer type (cosine of
               TF-IDF vectors of the questions, ties broken by trial id)
    easy       the gold answer of a random other question of the same answer type
    unrelated  the gold answer of a random other question of a different answer type

A foil is only ever a wrong answer for its question: its normalised text is non-empty, is no
normalised gold alias, and `grade_triviaqa(foil, aliases)` grades it not correct. Random draws are
seeded from (seed, sha256 of the trial id), so they depend neither on the order of the rows nor on
PYTHONHASHSEED. Every input row gets one row per kind; where no foil exists the row says why.

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

import hashlib
import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from interp.errors import ConfigError, DatasetError
from interp.tasks.grading import grade_triviaqa, normalize_answer

__all__ = [
    "ANSWER_TYPES",
    "FOIL_COLUMNS",
    "FOIL_KINDS",
    "answer_type",
    "build_foils",
    "stable_hash",
]

ANSWER_TYPES: tuple[str, ...] = ("year", "date", "number", "person", "place", "organisation", "other")
"""The tags of `answer_type`, in no particular order of precedence (see the module docstring)."""

FOIL_KINDS: tuple[str, ...] = ("hard", "easy", "unrelated")
"""The foil kinds of `build_foils`, from most to least plausible."""

FOIL_COLUMNS: tuple[str, ...] = ("trial_id", "kind", "foil", "foil_source_id", "source", "question_type", "foil_type", "seed", "status")
"""The columns of the frame `build_foils` returns, in order."""

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


# --------------------------------------------------------------------------------------------
# Foils
# --------------------------------------------------------------------------------------------


def stable_hash(value: object) -> int:
    """A 63-bit hash of `str(value)` (sha256), the same in every process."""
    return int.from_bytes(hashlib.sha256(str(value).encode("utf-8")).digest()[:8], "big") >> 1


def _missing(value: object) -> bool:
    """None, NaN, pd.NA or blank text (a list or array is never missing here)."""
    if value is None or isinstance(value, (list, tuple, np.ndarray)):
        return value is None
    try:
        if pd.isna(value):
            return True
    except (TypeError, ValueError):
        return False
    return not str(value).strip()


def _aliases(value: object, gold: str) -> list[str]:
    """The aliases as a list of str (tuple, list, array or one string), the gold appended."""
    if isinstance(value, str):
        items = [value]
    elif _missing(value):
        items = []
    else:
        items = [str(a) for a in list(value) if not _missing(a)]
    return items + [gold] if gold and gold not in items else items


class _Row:
    """One trial's gold answers, normalised once."""

    __slots__ = ("aliases", "banned", "gold", "id", "problem", "question", "type", "usable")

    def __init__(self, trial_id: object, question: object, gold: object, aliases: object, status: object) -> None:
        self.id = trial_id
        self.question = "" if _missing(question) else str(question)
        self.gold = "" if _missing(gold) else str(gold).strip()
        self.aliases = _aliases(aliases, self.gold)
        self.banned = {normalize_answer(a) for a in self.aliases} - {""}
        self.problem = None
        if status is not None and not _missing(status) and str(status) != "ok":
            self.problem = f"input row not usable: {status}"
        elif not self.gold or not self.banned:
            self.problem = "no gold answer"
        self.usable = self.problem is None
        self.type = answer_type(self.gold, self.question) if self.gold else None

    def accepts(self, foil: str | None, normalised: str | None = None) -> bool:
        """Whether `foil` is a wrong answer for this trial (the `grade_triviaqa` rule, then the grader)."""
        if foil is None or _missing(foil):
            return False
        said = normalize_answer(foil) if normalised is None else normalised
        if not said or said in self.banned:
            return False
        if len(said.split()) <= 10:
            padded = f" {said} "
            if any(f" {gold} " in padded for gold in self.banned):
                return False
        return grade_triviaqa(foil, self.aliases).correct is False


def _draw(row: _Row, pool: Sequence[int], rows: Sequence[_Row], norms: Sequence[str], rng: np.random.Generator, avoid: set[str]) -> int | None:
    """A uniformly drawn index of `pool` whose gold is a valid foil for `row`, preferring golds
    not in `avoid` (normalised); None if no candidate is valid."""
    fallback = None
    for position in rng.permutation(len(pool)):
        candidate = pool[position]
        if rows[candidate] is row or not row.accepts(rows[candidate].gold, norms[candidate]):
            continue
        if norms[candidate] not in avoid:
            return candidate
        if fallback is None:
            fallback = candidate
    return fallback


def _result(row: _Row, kind: str, seed: int, foil: str | None = None, source_id: object = None, source: str | None = None, foil_type: str | None = None, status: str = "ok") -> dict:
    return {
        "trial_id": row.id,
        "kind": kind,
        "foil": foil if status == "ok" else None,
        "foil_source_id": source_id if status == "ok" else None,
        "source": source if status == "ok" else None,
        "question_type": row.type,
        "foil_type": foil_type if status == "ok" else None,
        "seed": seed,
        "status": status,
    }


def build_foils(rows: pd.DataFrame, seed: int = 0, samples: Mapping[object, Sequence[str]] | None = None) -> pd.DataFrame:
    """Hard, easy and unrelated foils for every row of a TriviaQA frame (see the module docstring).

    Args:
        rows: columns `trial_id` (or `id`), `question`, `gold`, `aliases`; a `status` column, if
            present, keeps rows whose status is not "ok" out of the pools (their foil rows say so).
        seed: a non-negative integer; the draws of a trial use numpy generators seeded from
            (seed, `stable_hash(trial_id)`), one spawned stream per kind.
        samples: {trial_id: the model's T = 1 answers}; hard takes the first that is a valid foil.

    Returns:
        One row per input row and kind, in input order and `FOIL_KINDS` order, columns
        `FOIL_COLUMNS`: `foil_source_id` is the trial whose gold was used (None for a model
        sample); `source` is "model sample", "related question", "random question" or "other
        type"; `question_type` is the type of the row's gold; `foil_type` the type of the foil
        (a pool foil keeps the type of its source trial); `status` "ok" or why there is no foil.

    Raises:
        DatasetError: a required column is missing, or a trial id occurs twice.
    """
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    id_column = "trial_id" if "trial_id" in rows.columns else "id" if "id" in rows.columns else None
    if id_column is None:
        raise DatasetError(f"build_foils needs a 'trial_id' (or 'id') column; columns: {list(rows.columns)}")
    for column in ("question", "gold", "aliases"):
        if column not in rows.columns:
            raise DatasetError(f"build_foils needs a {column!r} column; columns: {list(rows.columns)}")
    ids = rows[id_column]
    duplicated = ids[ids.duplicated()]
    if len(duplicated):
        first = duplicated.iloc[0]
        where = [int(i) for i in np.flatnonzero((ids == first).to_numpy())[:2]]
        raise DatasetError(f"trial id {first!r} occurs twice (rows {where[0]} and {where[1]})")

    statuses = rows["status"].tolist() if "status" in rows.columns else [None] * len(rows)
    given = [_Row(t, q, g, a, s) for t, q, g, a, s in zip(ids.tolist(), rows["question"].tolist(), rows["gold"].tolist(), rows["aliases"].tolist(), statuses)]
    # Work in trial-id order so nothing depends on the order of the input rows.
    ordered = sorted(given, key=lambda r: (str(r.id), type(r.id).__name__))
    usable = [r for r in ordered if r.usable]
    norms = [normalize_answer(r.gold) for r in usable]
    by_type: dict[str, list[int]] = {}
    for index, row in enumerate(usable):
        by_type.setdefault(row.type, []).append(index)

    others = {t: sorted(i for u, members in by_type.items() if u != t for i in members) for t in by_type}
    sampled = {index: next((str(s) for s in _samples_for(samples, row.id) if row.accepts(s)), None) for index, row in enumerate(usable)}
    related = _related_foils(usable, norms, by_type, [i for i, s in sampled.items() if s is None])

    results: dict[int, list[dict]] = {}
    position_of = {id(r): i for i, r in enumerate(usable)}
    for row in ordered:
        if not row.usable:
            results[id(row)] = [_result(row, kind, seed, status=row.problem) for kind in FOIL_KINDS]
            continue
        index = position_of[id(row)]
        streams = [np.random.default_rng(s) for s in np.random.SeedSequence([seed, stable_hash(row.id)]).spawn(len(FOIL_KINDS))]
        out = []
        hard_text = sampled[index]
        if hard_text is not None:
            out.append(_result(row, "hard", seed, hard_text, None, "model sample", answer_type(hard_text, row.question)))
        elif related.get(index) is not None:
            source = usable[related[index]]
            hard_text = source.gold
            out.append(_result(row, "hard", seed, hard_text, source.id, "related question", source.type))
        else:
            out.append(_result(row, "hard", seed, status="no wrong sample and no same-type pool"))
        avoid = {normalize_answer(hard_text)} if hard_text else set()
        candidate = _draw(row, by_type[row.type], usable, norms, streams[1], avoid)
        if candidate is None:
            out.append(_result(row, "easy", seed, status="no same-type pool"))
        else:
            out.append(_result(row, "easy", seed, usable[candidate].gold, usable[candidate].id, "random question", usable[candidate].type))
            avoid.add(norms[candidate])
        candidate = _draw(row, others[row.type], usable, norms, streams[2], avoid)
        if candidate is None:
            out.append(_result(row, "unrelated", seed, status="no answer of another type"))
        else:
            out.append(_result(row, "unrelated", seed, usable[candidate].gold, usable[candidate].id, "other type", usable[candidate].type))
        results[id(row)] = out
    # object columns, so a missing foil is None (pandas' string dtype would turn it into NaN)
    frame = pd.DataFrame([record for row in given for record in results[id(row)]], columns=list(FOIL_COLUMNS), dtype=object)
    return frame.astype({"seed": "int64"})


def _samples_for(samples: Mapping[object, Sequence[str]] | None, trial_id: object) -> list[str]:
    if not samples:
        return []
    found = samples.get(trial_id)
    if found is None:
        found = samples.get(str(trial_id))
    if found is None or isinstance(found, str):
        return [found] if isinstance(found, str) else []
    return [s for s in list(found) if isinstance(s, str)]


def _related_foils(usable: Sequence[_Row], norms: Sequence[str], by_type: Mapping[str, Sequence[int]], wanted: Sequence[int], chunk: int = 512) -> dict[int, int | None]:
    """For each index in `wanted`, the index of the most related other question of the same type
    whose gold is a valid foil (TF-IDF cosine of the questions, English stop words; ties in
    trial-id order), or None. Similarities are computed per type block, `chunk` rows at a time."""
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer

    if not wanted:
        return {}
    try:
        matrix = TfidfVectorizer(stop_words="english").fit_transform([r.question for r in usable]).tocsr()
    except ValueError:  # every question is empty or stop words only: no relatedness, trial-id order
        matrix = sparse.csr_matrix((len(usable), 1))
    wanted_set = set(wanted)
    found: dict[int, int | None] = {}
    for members in by_type.values():
        members = np.asarray(members)
        queries = np.asarray([m for m in members if m in wanted_set])
        if not len(queries):
            continue
        block = matrix[members]
        for start in range(0, len(queries), chunk):
            part = queries[start : start + chunk]
            sims = (matrix[part] @ block.T).toarray()
            for offset, query in enumerate(part):
                order = members[np.argsort(-sims[offset], kind="stable")]
                row = usable[query]
                found[int(query)] = next((int(c) for c in order if c != query and row.accepts(usable[c].gold, norms[c])), None)
    return found
