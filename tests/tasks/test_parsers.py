"""The paradigms' reply parsers: the Phase-0 confidence line, 0–100 numbers, the Phase-4 fields."""

from __future__ import annotations

from interp.tasks import DIGIT_VALUES, parse_confidence_class, parse_percent, parse_threshold_reply


def test_parsers():
    assert parse_confidence_class(" Paris\nConfidence: highly likely.")[0].label == "Highly likely"
    assert parse_confidence_class("Confidence: Likely")[0].label == "Likely"
    assert parse_confidence_class("Confidence: Unlikely")[0].label == "Unlikely"
    assert parse_confidence_class("Confidence: pretty sure") == (None, "unknown confidence class 'pretty sure'")
    assert parse_confidence_class("Paris")[1] == "no 'Confidence:' line"
    assert parse_percent("85\n") == (85, "ok") and parse_percent("100") == (100, "ok")
    assert parse_percent("150")[0] is None and parse_percent(" about 80")[0] is None
    assert parse_threshold_reply("2\nConfidence:75\nFinal:2") == ({"answer": 2, "confidence": 75, "final": 2}, "ok")
    fields, status = parse_threshold_reply("3\nConfidence: 40\nFinal: 5")
    assert fields == {"answer": 3, "confidence": 40, "final": 5} and status == "ok"
    fields, status = parse_threshold_reply(" 5\nConfidence: 90\nFinal: 5")
    assert fields == {"answer": None, "confidence": 90, "final": 5} and status == "ok (abstained in the answer field)"
    assert parse_threshold_reply("5\nConfidence: 90\nFinal: 2")[1] == "answer missing or outside 1-4"
    fields, status = parse_threshold_reply("7\nFinal: 2")
    assert fields["answer"] is None and fields["confidence"] is None and "answer missing" in status and "confidence missing" in status


def test_digit_values():
    assert DIGIT_VALUES[0] == 0.05 and DIGIT_VALUES[9] == 0.95 and len(DIGIT_VALUES) == 10
