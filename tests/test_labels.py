"""Labels (Literal / Enum options) from the answers people and models actually write.

`PHRASINGS` is the measured table of docs/guides/structured.md: each answer with the option
it must give, or `ERROR` where it names several options, negates the one it names, or
corrects itself — an `ExtractionError`, never a guess.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Literal

import pytest

from terse import ExtractionError, extract, extract_details

Sentiment = Literal["positive", "negative", "neutral"]


class Tone(Enum):
    VERY_POSITIVE = "very positive"
    POSITIVE = "positive"
    NEGATIVE = "negative"


class Priority(Enum):
    HIGH = "p1"
    LOW = "p2"


ERROR = object()

PHRASINGS: list[tuple[str, Any, Any]] = [
    # (answer, target, expected value or ERROR)
    ("positive", Sentiment, "positive"),
    ("Negative", Sentiment, "negative"),
    ("Neutral.", Sentiment, "neutral"),
    ("**Neutral**", Sentiment, "neutral"),
    ("`neutral`", Sentiment, "neutral"),
    ("The sentiment is neutral.", Sentiment, "neutral"),
    ("Label: neutral", Sentiment, "neutral"),
    ("Sentiment: Negative.", Sentiment, "negative"),
    ('{"label": "neutral"}', Sentiment, "neutral"),
    ('```json\n{"sentiment": "positive"}\n```', Sentiment, "positive"),
    ('{"sentiment": "negative", "reason": "not positive at all"}', Sentiment, "negative"),
    ("I'd classify this as neutral.", Sentiment, "neutral"),
    ("Answer: positive", Sentiment, "positive"),
    ("The answer is **negative**.", Sentiment, "negative"),
    ("Final answer: neutral", Sentiment, "neutral"),
    ("This review is clearly positive.", Sentiment, "positive"),
    ("Overall, the tone of the message is negative.", Sentiment, "negative"),
    (
        "I would label this text as positive because the customer praises the fast delivery.",
        Sentiment,
        "positive",
    ),
    (
        "Classification: **Positive**\n\nThe reviewer praises the battery life.",
        Sentiment,
        "positive",
    ),
    (
        "Sentiment: negative\n\nReason: although the reviewer liked the screen (a positive "
        "point), the battery complaints dominate.",
        Sentiment,
        "negative",
    ),
    ("Negative — the customer asks for a refund.", Sentiment, "negative"),
    ("Positive. The reviewer would buy it again.", Sentiment, "positive"),
    ("The text reads as neutral: it only states the delivery date.", Sentiment, "neutral"),
    ("It's neutral.", Sentiment, "neutral"),
    ("Neutral sentiment.", Sentiment, "neutral"),
    ("The sentiment expressed is mildly negative.", Sentiment, "negative"),
    ("Based on the wording, I'd say the sentiment is positive.", Sentiment, "positive"),
    ("Category: NEUTRAL", Sentiment, "neutral"),
    ("### Sentiment\nNegative", Sentiment, "negative"),
    ("- Sentiment: positive", Sentiment, "positive"),
    ("Label: neutral\nConfidence: 0.8", Sentiment, "neutral"),
    ("Neutral — not clearly positive or negative.", Sentiment, "neutral"),
    ("Negative, not positive.", Sentiment, "negative"),
    ("It's not great, but positive overall.", Sentiment, "positive"),
    ("The customer is unhappy, so negative.", Sentiment, "negative"),
    ("Clearly positive!", Sentiment, "positive"),
    ("Neutral, positive.", Sentiment, ERROR),  # a list, not a mark
    # several options, negated, doubted or corrected: an error, never a guess
    ("Not positive, it's negative.", Sentiment, ERROR),
    ("It is not positive.", Sentiment, ERROR),
    ("It's neither positive nor negative.", Sentiment, ERROR),
    ("It's neither positive nor negative, so neutral.", Sentiment, ERROR),
    ("Positive or neutral, hard to say.", Sentiment, ERROR),
    ("The answer is positive. Actually, negative.", Sentiment, ERROR),
    ("Positive? Not really.", Sentiment, ERROR),
    ("Mixed: some positive remarks, some negative ones.", Sentiment, ERROR),
    ("I don't think it's negative.", Sentiment, ERROR),
    ("The review is hardly positive.", Sentiment, ERROR),
    ("**Positive** overall, though with some **negative** remarks.", Sentiment, ERROR),
    ("Answer: positive or negative", Sentiment, ERROR),
    ("I'm not sure it's positive.", Sentiment, ERROR),
    ("The sentiment is non-negative.", Sentiment, ERROR),
    ("I can't tell from this text.", Sentiment, ERROR),
    ("Positive is not the word I would use.", Sentiment, ERROR),
    # Enum: by value, by name, longest phrase first
    ("The tone is very positive.", Tone, Tone.VERY_POSITIVE),
    ("VERY_POSITIVE", Tone, Tone.VERY_POSITIVE),
    ("Tone: very-positive", Tone, Tone.VERY_POSITIVE),
    ("It's positive.", Tone, Tone.POSITIVE),
    ("The tone is positive, not very positive.", Tone, ERROR),
    ("Priority: HIGH", Priority, Priority.HIGH),
    ("Priority: p2", Priority, Priority.LOW),
    ("This looks like a p1 to me.", Priority, ERROR),  # "p1" is only read where marked
]


def _id(row: tuple[str, Any, Any]) -> str:
    return row[0][:40]


@pytest.mark.parametrize(("answer", "target", "expected"), PHRASINGS, ids=map(_id, PHRASINGS))
def test_phrasing(answer: str, target: Any, expected: Any) -> None:
    raw = f"<think>Is it positive, negative or neutral? Not positive.</think>\n\n{answer}"
    if expected is ERROR:
        with pytest.raises(ExtractionError):
            extract(raw, target)
    else:
        assert extract(raw, target) == expected


def test_the_table_is_large_and_has_both_outcomes() -> None:
    assert len(PHRASINGS) >= 40
    errors = sum(e is ERROR for _, _, e in PHRASINGS)
    assert 10 <= errors <= len(PHRASINGS) - 30


def test_the_error_names_the_options_it_saw() -> None:
    with pytest.raises(ExtractionError, match=r"several options \(positive, negative\)"):
        extract("Not positive, it's negative.", Sentiment)
    with pytest.raises(ExtractionError, match="negates or doubts"):
        extract("It is not positive.", Sentiment)
    with pytest.raises(ExtractionError, match="corrects it to negative"):
        extract("The answer is positive. Actually, negative.", Sentiment)


def test_a_named_option_says_so() -> None:
    got = extract_details("I'd classify this as neutral.", Sentiment)
    assert (got.value, got.kind, got.candidate) == (
        "neutral",
        "scalar",
        "I'd classify this as neutral.",
    )
    got = extract_details('{"label": "neutral"}', Sentiment)
    assert (got.value, got.kind) == ("neutral", "field")


def test_an_option_inside_another_word_is_not_named() -> None:
    toxic = Literal["toxic", "safe"]
    with pytest.raises(ExtractionError):
        extract("The comment is non-toxic.", toxic)
    assert extract("The comment is toxic.", toxic) == "toxic"


def test_yes_no_and_single_letters_are_not_read_from_free_prose() -> None:
    with pytest.raises(ExtractionError):
        extract("This is a long review with a clear tone.", Literal["a", "b"])
    with pytest.raises(ExtractionError):
        extract("There is no doubt the user is happy.", Literal["yes", "no"])
    assert extract("Answer: b", Literal["a", "b"]) == "b"


def test_a_long_answer_is_read_in_linear_time() -> None:
    text = "neutral " * 20_000 + "positive"
    with pytest.raises(ExtractionError):
        extract(text, Sentiment)
    text = "word " * 200_000 + "Label: neutral"
    assert extract(text, Sentiment) == "neutral"


def test_a_client_takes_a_named_label_in_one_request() -> None:
    from terse import Client
    from terse.testing import FakeServer, Reply

    with FakeServer(dialect="vllm") as srv, Client(base_url=srv.base_url, model="m") as client:
        srv.push(Reply(reasoning="Positive? No. Negative? No.", answer="The sentiment is neutral."))
        answer = client.ask("Classify: 'The parcel arrives Tuesday.'", response_model=Sentiment)
    assert answer.value == "neutral"
    assert [a.outcome for a in answer.attempts] == ["ok"]
