"""The eval metrics on hand-built cases whose right values are worked out by hand in each test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assistant.core.config import load_settings
from assistant.core.errors import UserError
from assistant.runtime import Runtime
from eval.faithfulness import SupportChecker, lexical_support, numbers_match
from eval.judge import Judge, judge_prompt, parse_verdict
from eval.key_facts import cited_ids, facts, key_facts
from eval.metrics import (
    citation_scores,
    format_compliance,
    is_refusal,
    retrieval_scores,
    rouge_l,
    sentences,
    token_f1,
)
from eval.stats import estimate, paired_difference
from tests.conftest import SAMPLES

PASSAGE = "Hold the reset button for 10 seconds until the status LED blinks amber. The router then restarts twice."


def test_retrieval_scores_count_ranks_of_gold_documents() -> None:
    # gold b.md is at rank 2 of 3; gold d.md is not retrieved
    assert retrieval_scores(["a.md", "b.md", "c.md"], ["b.md", "d.md"]) == {"hit_at_k": 1.0, "mrr": 0.5, "recall": 0.5}
    assert retrieval_scores(["a.md"], ["z.md"]) == {"hit_at_k": 0.0, "mrr": 0.0, "recall": 0.0}


def test_sentences_keep_step_numbers_and_trailing_citations() -> None:
    answer = "Reset it [1].\n\n1. Hold the button. [1]\n2. Wait. Then log in [2]."
    assert sentences(answer) == ["Reset it [1].", "1. Hold the button. [1]", "2. Wait.", "Then log in [2]."]


def test_citation_scores_on_a_hand_counted_answer() -> None:
    answer = "Reset it [1].\n\n1. Hold the button [1].\n2. Wait for the light [3]."
    scores = citation_scores(answer, given_sources=["a.md", "b.md"], gold_sources=["a.md"])
    # markers [1] and [3]: [3] names no passage given → validity 1/2; [1] is gold → precision 1;
    # sentences 1 and 2 carry a valid citation, sentence 3 only an invalid one → coverage 2/3
    assert scores == pytest.approx({"citation_validity": 0.5, "citation_precision": 1.0, "citation_coverage": 2 / 3})
    wrong = citation_scores("Yes [2].", given_sources=["a.md", "b.md"], gold_sources=["a.md"])
    assert wrong["citation_precision"] == 0.0
    assert "citation_validity" not in citation_scores("No citation here.", ["a.md"], ["a.md"])


def test_token_f1_and_rouge_l_on_known_overlaps() -> None:
    # words [cat, sat] vs [cat, sat, down] ("the" dropped): precision 1, recall 2/3 → F1 0.8
    assert token_f1("The cat sat [1].", "the cat sat down") == pytest.approx(0.8)
    assert token_f1("nothing shared", "cat") == 0.0
    # LCS "router restarts" = 2 tokens: precision 2/2, recall 2/4 → F 2/3
    assert rouge_l("router restarts [1]", "the router restarts twice") == pytest.approx(2 / 3)


def test_refusals_are_recognised_in_the_forms_the_product_writes() -> None:
    assert is_refusal("The documents do not cover this question.")
    assert is_refusal("Verdict: Not covered.\nThe policies provided do not address this.\nClauses: none")
    assert is_refusal("The help pages don't cover this.\n\n1. Contact Brightwave support.")
    assert not is_refusal("Hold the reset button for 10 seconds [1].")


def test_format_compliance_uses_the_domains_configured_format() -> None:
    domains = load_settings(home=SAMPLES, config_file=SAMPLES / "config.toml").domains
    policy, support = domains["policy"].answer_format, domains["support"].answer_format
    assert policy and support
    assert format_compliance("Verdict: No.\nGift cards are cash equivalents [1].\nClauses: G1.3", policy) == 1.0
    assert format_compliance("No, gift cards are not allowed [1].", policy) == 0.0
    assert format_compliance("Reset the router [1].\n\n1. Hold the button [1].", support) == 1.0
    assert format_compliance("1. Hold the button [1].", support) == 0.0


def test_a_bad_answer_format_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[domains.support]\nanswer_format = '([unclosed'\n")
    with pytest.raises(UserError, match=r"domains\.support\.answer_format.*not a regular expression"):
        load_settings(home=tmp_path, config_file=config)


GIFT_REFERENCE = "No. Under G2.1 meals paid by a partner are allowed up to €100 per person, at most four times a year."


def test_key_facts_are_the_verdict_numbers_with_units_and_clause_ids() -> None:
    assert {str(f) for f in facts(GIFT_REFERENCE)} == {"no", "G2.1", "100 €", "4 time"}
    assert {str(f) for f in facts("The Nimbus N300 keeps 1,000 logs from 1 June 2025 (Version 3.1), at 3 pm.")} == {
        "1000", "1 june 2025", "3.1", "15:00"
    }  # fmt: skip


def test_key_facts_see_a_wrong_verdict_or_amount_that_token_f1_forgives() -> None:
    right = "Verdict: No.\nPartners may pay meals up to 100 euros a head, four times a year [1].\nClauses: G2.1"
    wrong_verdict = right.replace("Verdict: No.", "Verdict: Yes.")
    wrong_amount = right.replace("100 euros", "€150")
    assert key_facts(right, GIFT_REFERENCE) == 1.0
    assert key_facts(wrong_verdict, GIFT_REFERENCE) == 0.75
    assert key_facts(wrong_amount, GIFT_REFERENCE) == 0.75
    assert token_f1(right, GIFT_REFERENCE) - token_f1(wrong_verdict, GIFT_REFERENCE) < 0.1, "F1 barely sees it"
    assert key_facts("The documents do not cover this question.", GIFT_REFERENCE) == 0.0
    assert key_facts("Anything at all.", "Open the app and tap Devices.") is None


def test_key_facts_compare_durations_across_units() -> None:
    reference = "Hold reset for 10 seconds; the unit restarts in about 2 minutes and asks again after two weeks."
    assert key_facts("Press it ten seconds. It reboots within 120 s, and asks in 14 days.", reference) == 1.0
    assert key_facts("Press it 2 minutes. It reboots within 10 s.", reference) == pytest.approx(2 / 3)


def test_cited_ids_must_be_in_a_passage_the_answer_cites() -> None:
    passages = ["G2.1 Meals paid by a partner: up to €100.", "G1.3 Cash and gift cards are never accepted."]
    assert cited_ids("Verdict: No.\nMeals up to €100 [1].\nClauses: G2.1", passages) == 1.0
    assert cited_ids("Verdict: No.\nMeals up to €100 [1].\nClauses: G2.1, G1.3", passages) == 0.5, "G1.3 uncited"
    assert cited_ids("Verdict: No.\nNever [2].\nClauses: T9.9", passages) == 0.0, "invented"
    assert cited_ids("Clauses: G2.1", passages) == 0.0, "named, but nothing is cited"
    assert cited_ids("Verdict: Yes.\nFine [1].", passages) is None


def test_lexical_support_and_the_number_rule() -> None:
    assert lexical_support("Hold the reset button for 10 seconds [1].", PASSAGE) == 1.0
    # stems: "restarting" ~ "restarts"; "router" found; "unplug" not → 2/3
    assert lexical_support("Unplug the restarting router.", PASSAGE) == pytest.approx(2 / 3)
    assert numbers_match("Hold it for 10 seconds.", PASSAGE)
    assert not numbers_match("Hold it for 30 seconds.", PASSAGE)


@pytest.fixture(scope="module")
def checker(sample_runtime: Runtime) -> SupportChecker:
    settings = sample_runtime.settings.eval
    return SupportChecker(sample_runtime.embedder.embed, settings.lexical_support, settings.embedding_support)


def test_faithfulness_counts_supported_sentences(checker: SupportChecker) -> None:
    other = "Guests can use the guest network for 24 hours."
    answer = (
        "Hold the reset button for 10 seconds until the LED blinks amber [1].\n"
        "Then hold the reset button for 30 seconds [1].\n"  # a changed figure: unsupported
        "Verdict: Yes."  # too short to carry a claim: not checked
    )
    assert checker.faithfulness(answer, [PASSAGE, other]) == pytest.approx(0.5)
    # the first sentence cites the wrong passage: [2] is checked against passage 2 only
    assert checker.faithfulness("Hold the reset button for 10 seconds [2].", [PASSAGE, other]) == 0.0
    # closed-book (given=False): its markers mean nothing, so every passage is searched
    assert checker.faithfulness("Hold the reset button for 10 seconds [2].", [PASSAGE, other], given=False) == 1.0
    assert checker.faithfulness("Verdict: No.", [PASSAGE]) is None


def test_embedding_support_accepts_a_paraphrase_lexical_support_misses(checker: SupportChecker) -> None:
    paraphrase = "Keep pressing the reset key for ten seconds, till the status light flashes amber."
    assert lexical_support(paraphrase, PASSAGE) < checker.lexical_threshold
    assert checker.embedding_support(paraphrase, PASSAGE) >= checker.embedding_threshold
    assert checker.supported(paraphrase, [PASSAGE])
    assert not checker.supported("The router supports WPA3 encryption on the guest network.", [PASSAGE])


def test_embedding_similarity_ranks_the_right_reference_higher(checker: SupportChecker) -> None:
    reference = "Hold the reset button for ten seconds."
    assert checker.similarity("Press and hold reset for 10 seconds.", reference) > checker.similarity(
        "Gift cards from suppliers are never allowed.", reference
    )


def test_judge_verdicts_are_strict_json() -> None:
    assert parse_verdict('{"supported": true}') is True
    assert parse_verdict('{"supported":false}') is False
    assert parse_verdict('{"supported": "yes"}') is None
    assert parse_verdict('{"supported": true, "why": "x"}') is None
    assert parse_verdict("Yes, it is supported.") is None


def test_the_judge_on_the_real_model_always_returns_a_verdict(sample_runtime: Runtime) -> None:
    """The grammar keeps Gemma 270M to the schema: every reply parses, on the first attempt."""
    judge = Judge(sample_runtime.backend)
    claims = ["Hold the reset button for 10 seconds [1].", "The router restarts twice after a reset."]
    verdicts = [judge.supported(claim, [PASSAGE]) for claim in claims]
    assert all(isinstance(v, bool) for v in verdicts), verdicts
    assert (judge.replies, judge.unparsed) == (len(claims), 0)
    assert judge.faithfulness("\n".join(claims), [PASSAGE]) in (0.0, 0.5, 1.0)
    # Without the grammar the same prompt gets free text: the constraint is what makes the verdicts parse.
    free = "".join(sample_runtime.backend.stream(judge_prompt(claims[0], [PASSAGE]), None))
    assert parse_verdict(free.strip()) is None, free


def test_paired_difference_on_a_known_sign_pattern() -> None:
    # the arm wins by 1 on 8 questions out of 8: interval [1, 1]; exact sign-flip p = 2 / 2**8
    pairs = [(line, 1.0, 0.0) for line in range(1, 9)]
    found = paired_difference("rag+adapter", "rag", "format_compliance", pairs, 2000, 0.95, 0)
    assert (found.diff, found.low, found.high) == (1.0, 1.0, 1.0)
    assert found.p_value == pytest.approx(2 / 2**8)
    assert found.wins == list(range(1, 9)) and found.losses == []
    # wins and losses that cancel: no difference, p = 1, and the interval straddles zero
    mixed = [(1, 1.0, 0.0), (2, 0.0, 1.0), (3, 1.0, 0.0), (4, 0.0, 1.0), (5, 0.5, 0.5)]
    found = paired_difference("a", "b", "m", mixed, 2000, 0.95, 0)
    assert found.diff == 0.0 and found.p_value == pytest.approx(1.0)
    assert found.low < 0 < found.high
    assert (found.wins, found.losses) == ([1, 3], [2, 4])


def test_bootstrap_interval_of_a_mean_covers_it_and_narrows_with_more_data() -> None:
    rng = np.random.default_rng(0)
    small = estimate(rng.random(20), 2000, 0.95, 0)
    large = estimate(rng.random(400), 2000, 0.95, 0)
    assert small.low < small.mean < small.high
    assert large.high - large.low < small.high - small.low
    assert large.n == 400
