"""The reasoning/answer splitter: whole texts, streams, and their agreement."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from terse import Split, Splitter, UsageError, split, strip
from terse._wire.formats import FORMATS, ThinkFormat

from .conftest import load_corpus

CORPUS = [r for r in load_corpus() if isinstance(r["raw"], str)]
_HARMONY = "<|channel|>analysis<|message|>a<|end|><|start|>assistant<|channel|>final<|message|>"


def feed_all(chunks: list[str], **kwargs: object) -> tuple[str, str, bool]:
    s = Splitter(**kwargs)  # type: ignore[arg-type]
    reasoning, answer = [], []
    for c in chunks:
        d = s.feed(c)
        reasoning.append(d.reasoning)
        answer.append(d.answer)
    d = s.finish()
    reasoning.append(d.reasoning)
    answer.append(d.answer)
    return "".join(reasoning), "".join(answer), s.closed


def as_tuple(s: Split) -> tuple[str, str, bool]:
    return s.reasoning, s.answer, s.closed


# --- whole texts -------------------------------------------------------------------------

CASES = [
    # (text, reasoning, answer, closed)
    ("<think>hmm</think>\n\nParis", "hmm", "Paris", True),
    ("<think>\n\n</think>\n\nHi", "\n\n", "Hi", True),  # thinking switched off
    ("Okay, so France.</think>\n\nParis", "Okay, so France.", "Paris", True),  # close-only
    ("<think>\nstill going", "\nstill going", "", False),  # cut by max_tokens
    ("<think>", "", "", False),
    ("<thinking>a</thinking>b", "a", "b", True),
    ("[THINK]a[/THINK]b", "a", "b", True),
    ("◁think▷a◁/think▷b", "a", "b", True),
    ("<seed:think>a</seed:think>b", "a", "b", True),
    ("<mm:think>a</mm:think>b", "a", "b", True),
    ("<|START_THINKING|>a<|END_THINKING|>b", "a", "b", True),
    ("a</seed:think>b", "a", "b", True),
    (
        "<|channel|>analysis<|message|>a<|end|><|start|>assistant<|channel|>final<|message|>b",
        "a",
        "b",
        True,
    ),
    (
        "<|start|>assistant<|channel|>analysis<|message|>a<|start|>assistant<|channel|>final<|message|>b",
        "a",
        "b",
        True,
    ),
    ("analysisWe need 4.assistantfinal4", "We need 4.", "4", True),
    ("plain answer", "", "plain answer", True),
    ("  spaced answer \n", "", "spaced answer", True),
    ("", "", "", True),
    # Only the leading section is reasoning: a later tag belongs to the answer.
    ("<think>a</think>b ```<think>x</think>```", "a", "b ```<think>x</think>```", True),
    # A literal tag inside JSON is not thinking (peers.md probe 13).
    ('{"note": "<think>x</think>"}', "", '{"note": "<think>x</think>"}', True),
    # An opening tag mid-text is not thinking.
    ("x <think> y", "", "x <think> y", True),
    # A stray opening tag before a one-line answer (Kimi K2 after a tool result).
    (" <think> The temperature is 30°C.", "", "The temperature is 30°C.", True),
    ("<think> a\nb", " a\nb", "", False),
    ("<think> a </think><answer> 46 </answer>", " a ", "<answer> 46 </answer>", True),
    # The answer keeps its own inner whitespace.
    ("<think>a</think>  x\n\n  y  ", "a", "x\n\n  y", True),
    # gpt-oss harmony terminators where the answer ends are not answer (mid-answer: kept).
    (_HARMONY + "b<|return|>", "a", "b", True),
    (_HARMONY + "b<|end|>", "a", "b", True),
    (_HARMONY + "b <|call|>\n", "a", "b", True),
    (_HARMONY + "b<|end|><|return|>", "a", "b", True),
    (_HARMONY + "b <|end|> c", "a", "b <|end|> c", True),
    ("<|channel|>analysis<|message|>a<|end|>", "a<|end|>", "", False),
    # A think tag the model writes in its answer: at its start, alone on a line, or at its
    # end, it is dropped; inside a line or a code fence it stays.
    ("<think>a</think>\n\n</think>\n\nParis", "a", "Paris", True),
    ("<think>a</think></think>Paris", "a", "Paris", True),
    ("<think>a</think>Paris\n</think>\nmore", "a", "Paris\nmore", True),
    ("<think>a</think>Paris\n  <think>  \nmore", "a", "Paris\nmore", True),
    ("<think>a</think>Paris</think>", "a", "Paris", True),
    ("<think>a</think>Paris\n\n</think>", "a", "Paris", True),
    ("<think>a</think>x\n```\n</think>\n```\ny", "a", "x\n```\n</think>\n```\ny", True),
    (
        "<think>a</think>x\n~~~~\n<think>\n~~~\n~~~~\n</think>\ny",
        "a",
        "x\n~~~~\n<think>\n~~~\n~~~~\ny",
        True,
    ),
    ("<think>a</think>Close it with `</think>`.", "a", "Close it with `</think>`.", True),
    ("<think>a</think>Paris</think> is it", "a", "Paris</think> is it", True),
]


@pytest.mark.parametrize(("text", "reasoning", "answer", "closed"), CASES)
def test_split_cases(text: str, reasoning: str, answer: str, closed: bool) -> None:
    assert as_tuple(split(text)) == (reasoning, answer, closed)


@pytest.mark.parametrize(("text", "reasoning", "answer", "closed"), CASES)
def test_stream_one_char_at_a_time_matches_cases(
    text: str, reasoning: str, answer: str, closed: bool
) -> None:
    assert feed_all(list(text)) == (reasoning, answer, closed)


def test_strip_returns_the_answer_alone() -> None:
    assert strip("<think>x</think>\n42") == "42"
    assert strip("<think>never closed") == ""


def test_split_reports_the_format() -> None:
    assert split("<think>a</think>b").format == "think"
    assert split("a[/THINK]b").format == "magistral"
    assert split("b").format is None


def test_thinking_open_true_treats_start_as_reasoning() -> None:
    assert as_tuple(split("a</think>b", thinking_open=True)) == ("a", "b", True)
    assert as_tuple(split("still thinking", thinking_open=True)) == ("still thinking", "", False)
    # A model that repeats the pre-filled tag does not leak it into the reasoning.
    assert as_tuple(split("<think>a</think>b", thinking_open=True)) == ("a", "b", True)
    assert as_tuple(split("", thinking_open=True)) == ("", "", False)


def test_thinking_open_false_never_looks_for_a_lone_close() -> None:
    assert as_tuple(split("a</think>b", thinking_open=False)) == ("", "a</think>b", True)
    assert as_tuple(split("<think>a</think>b", thinking_open=False)) == ("a", "b", True)


@pytest.mark.parametrize("mode", [False, None])
def test_a_stray_close_tag_on_the_native_path_is_not_answer(mode: bool | None) -> None:
    # A server put the reasoning in reasoning_content; the content still holds a </think>.
    for content in ["</think>\n\nParis", "</think>Paris", "Paris\n</think>", "Paris</think>"]:
        want = ("", "Paris", True) if mode is False or content.startswith("</") else None
        if want is not None:
            assert as_tuple(split(content, thinking_open=mode)) == want
            assert feed_all(list(content), thinking_open=mode) == want


def test_explicit_formats_ignore_others() -> None:
    assert as_tuple(split("[THINK]a[/THINK]b", formats=["think"])) == (
        "",
        "[THINK]a[/THINK]b",
        True,
    )
    custom = ThinkFormat("reason", ("<reason>",), ("</reason>",))
    assert as_tuple(split("<reason>a</reason>b", formats=[custom])) == ("a", "b", True)
    assert split("<think>a</think>b", formats="think").answer == "b"


def test_unknown_format_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown think format"):
        Splitter(formats=["nope"])
    with pytest.raises(UsageError):
        Splitter(formats=[])


@pytest.mark.parametrize("bad", [b"<think>", None, 3, ["a"]])
def test_non_str_input_raises_type_error(bad: object) -> None:
    with pytest.raises(TypeError):
        split(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Splitter().feed(bad)  # type: ignore[arg-type]


def test_feed_after_finish_is_an_error() -> None:
    s = Splitter()
    s.feed("a")
    s.finish()
    with pytest.raises(UsageError):
        s.feed("b")
    with pytest.raises(UsageError):
        s.finish()


# --- the corpus ----------------------------------------------------------------------------


@pytest.mark.parametrize("row", CORPUS, ids=[r["id"] for r in CORPUS])
def test_corpus_answer_matches_label(row: dict[str, object]) -> None:
    raw = row["raw"]
    assert isinstance(raw, str)
    expected = row["expected"]
    assert isinstance(expected, dict)
    assert split(raw).answer == expected["answer_text"]


@pytest.mark.parametrize("row", CORPUS, ids=[r["id"] for r in CORPUS])
def test_corpus_every_boundary_of_a_two_way_cut(row: dict[str, object]) -> None:
    raw = row["raw"]
    assert isinstance(raw, str)
    want = as_tuple(split(raw))
    # Every cut point near each delimiter, plus a stride through the rest.
    points = set(range(0, len(raw), max(1, len(raw) // 200)))
    for f in FORMATS:
        for d in f.opens + f.closes:
            i = raw.find(d)
            if i != -1:
                points.update(range(max(0, i - 2), min(len(raw), i + len(d) + 3)))
    for p in sorted(points):
        assert feed_all([raw[:p], raw[p:]]) == want, p


# --- streaming equals whole text, for any chunking ------------------------------------------

DELIMS = sorted({d for f in FORMATS for d in f.opens + f.closes + f.ends})
pieces = st.one_of(
    st.sampled_from(DELIMS),
    st.sampled_from(
        ["<", "</", "<|", "[", "◁", "\n", " ", "  \n", "a", "analysis", "{", "}", "```\n", "~~~"]
    ),
    st.text(max_size=12),
)
texts = st.lists(pieces, max_size=12).map("".join)


@st.composite
def chunkings(draw: st.DrawFn, text_strategy: st.SearchStrategy[str]) -> tuple[str, list[str]]:
    text = draw(text_strategy)
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=10)))
    chunks, prev = [], 0
    for c in [*cuts, len(text)]:
        chunks.append(text[prev:c])
        prev = c
    return text, chunks


@settings(max_examples=600, deadline=None)
@given(chunkings(texts), st.sampled_from([None, True, False]))
def test_any_chunking_equals_split(case: tuple[str, list[str]], mode: bool | None) -> None:
    text, chunks = case
    assert feed_all(chunks, thinking_open=mode) == as_tuple(split(text, thinking_open=mode))


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(CORPUS), st.data())
def test_any_chunking_of_corpus_equals_split(row: dict[str, str], data: st.DataObject) -> None:
    text = row["raw"]
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=40)))
    chunks, prev = [], 0
    for c in [*cuts, len(text)]:
        chunks.append(text[prev:c])
        prev = c
    assert feed_all(chunks) == as_tuple(split(text))


@settings(max_examples=200, deadline=None)
@given(texts)
def test_reasoning_and_answer_come_from_the_text(text: str) -> None:
    s = split(text)
    assert s.answer == s.answer.strip()
    assert is_subsequence(s.answer, text)  # leaked tags and end tokens may be dropped
    assert s.reasoning in text
    if not s.closed:
        assert s.answer == ""
    for end in ("<|return|>", "<|end|>", "<|call|>", "</think>", "<think>"):
        assert not s.answer.endswith(end)
        assert not s.answer.startswith("</think>")


def is_subsequence(part: str, whole: str) -> bool:
    it = iter(whole)
    return all(ch in it for ch in part)


# --- bounded memory ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", [f for f in FORMATS if not f.word_delimiters])
def test_hold_back_never_exceeds_longest_delimiter_minus_one(fmt: ThinkFormat) -> None:
    longest = max(len(d) for d in fmt.opens + fmt.closes)
    s = Splitter(formats=[fmt])
    s.feed(fmt.opens[0] + "\n")
    close = fmt.closes[0]
    body = ("thinking " + close[:-1] + " more ") * 200
    for ch in body:
        s.feed(ch)
        assert s.pending <= longest - 1
    answer = [s.feed(close + "answer").answer]
    for ch in " x " * 50:
        answer.append(s.feed(ch).answer)
        assert s.pending <= 2  # only the trailing whitespace run ("  ") in the answer
    answer.append(s.finish().answer)
    assert "".join(answer) == "answer x" + "  x" * 49


def test_thinking_open_streams_without_holding() -> None:
    s = Splitter(thinking_open=True)
    assert s.feed("Okay, the user").reasoning == "Okay, the user"
    s = Splitter(thinking_open=False)
    assert s.feed("Paris").answer == "Paris"


def test_long_inputs_run_in_linear_time() -> None:
    # Many near-delimiters: a quadratic scan would take minutes here.
    text = "<think>" + "</thin" * 200_000 + "</think>ok"
    assert split(text).answer == "ok"
    text = "<" * 1_000_000
    assert split(text).answer == text
    s = Splitter()
    for i in range(0, 200_000, 7):
        s.feed("</thin"[: (i % 6) + 1])
    s.finish()


def test_str_subclasses_are_accepted() -> None:
    class Text(str):
        pass

    s = Splitter(thinking_open=True)
    d = s.feed(Text("hmm"))
    assert d.reasoning == "hmm"
    assert type(d.reasoning) is str
    assert split(Text("<think>a</think>b")).answer == "b"


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("<think>x</think>It is a</think>\n\nlighthouse.", "It is a\n\nlighthouse."),
        ("<think>x</think>A</think>  \nB</think>\n</think>\nC", "A  \nB\nC"),
        ("<think>x</think>Say `</think>` here.", "Say `</think>` here."),  # inside a line: stays
        ("<think>x</think>```\na</think>\n```\nb</think>\nc", "```\na</think>\n```\nb\nc"),
    ],
)
def test_a_think_tag_that_ends_a_line_is_dropped_outside_fences(text: str, answer: str) -> None:
    assert split(text).answer == answer
    for size in (1, 2, 3, 5, 8):
        s = Splitter()
        got = "".join(s.feed(text[i : i + size]).answer for i in range(0, len(text), size))
        assert got + s.finish().answer == answer, size
