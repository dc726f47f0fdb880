"""The enquiry retrieval's second round: stemming and typo correction, the concept map and the
out-of-scope patterns kept as data in lexicon.toml, and the calibrated confidence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from smartcustoms.plugins.enquiry.assistant import EnquiryAssistant
from smartcustoms.plugins.enquiry.knowledge import (
    CONFIDENCE_FILE,
    KnowledgeError,
    default_folder,
    load_knowledge,
)
from smartcustoms.plugins.enquiry.retrieval import FEATURES, _weighted
from smartcustoms.plugins.enquiry.text import edit_distance, fold_accents, stem
from smartcustoms.plugins.enquiry.tools import calibrate, evaluate, sample_week


@pytest.fixture(scope="module")
def assistant() -> EnquiryAssistant:
    return EnquiryAssistant()


def test_stemming_undoubles_and_edit_distance_counts_a_swap_as_one() -> None:
    assert stem("shipped") == stem("shipping") == "ship"
    assert stem("filled") == "fill" and stem("declared") == stem("declare")
    assert edit_distance("liqour", "liquor", 2) == 1
    assert edit_distance("japan", "japanes", 1) == 2  # beyond the limit: limit + 1


def test_typos_are_corrected_only_when_close(assistant: EnquiryAssistant) -> None:
    analyser = assistant.retriever.analyser
    assert analyser.correct(stem("alowance")) == stem("allowance")
    assert analyser.correct("japan") == "japan"  # two edits from "japanes": a five-letter word gets one


def test_the_concept_map_loads_words_and_phrases() -> None:
    lexicon = load_knowledge().lexicon
    assert "liquor" in lexicon.synonyms["booz"]
    assert "counterfeit" in lexicon.phrases["knock off"]
    assert lexicon.phrases["day trip"] == ("24", "hour")  # a canonical of two words adds both
    assert {name for name, _ in lexicon.out_of_scope} >= {"money-changer", "transport", "other-countries"}


def test_a_phrase_adds_its_concept_to_the_question(assistant: EnquiryAssistant) -> None:
    terms = assistant.retriever.terms("are knock-offs ok")
    assert "counterfeit" in terms.words and "counterfeit" not in terms.plain


def test_an_out_of_scope_question_is_handed_over_though_it_shares_words(assistant: EnquiryAssistant) -> None:
    match = assistant.retriever.best("Is there a money changer near the cash declaration counter?")
    assert match.out_of_scope == "money-changer"
    answer = assistant.ask("Is there a money changer near the cash declaration counter?")
    assert answer.handed_over and answer.confidence <= assistant.retriever.settings.out_of_scope_cap
    assert not assistant.ask("How much cash can I carry without declaring it?").handed_over


def test_small_talk_is_english_handed_over_not_refused(assistant: EnquiryAssistant) -> None:
    answer = assistant.ask("hello")
    assert answer.handed_over and answer.language == "en"


def test_a_bad_out_of_scope_pattern_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text(
        'section_en = "A"\nsection_zh = "甲"\n[[entry]]\nid = "x-1"\nquestions_en = ["q"]\n'
        'questions_zh = ["問"]\nanswer_en = "a"\nanswer_zh = "答"\n',
        encoding="utf-8",
    )
    (tmp_path / "lexicon.toml").write_text('[[out_of_scope]]\nname = "x"\npatterns = ["(unclosed"]\n')
    with pytest.raises(KnowledgeError, match="out_of_scope x"):
        load_knowledge(tmp_path)


def test_the_confidence_weights_load_and_make_a_probability(assistant: EnquiryAssistant) -> None:
    weights = assistant.knowledge.confidence_weights
    assert (default_folder() / CONFIDENCE_FILE).exists() and set(weights) == {"bias", *FEATURES}
    assert weights["explained"] > 0 and weights["similarity"] > 0  # clearer matches are surer
    match = assistant.retriever.best("How many cigarettes can I bring into Hong Kong duty free?")
    assert match.entry.entry_id == "allowance-tobacco" and 0.5 < match.confidence <= 1.0


def test_without_fitted_weights_the_confidence_is_the_uncalibrated_formula(tmp_path: Path) -> None:
    for path in default_folder().glob("*.toml"):
        if path.name != CONFIDENCE_FILE:
            (tmp_path / path.name).write_bytes(path.read_bytes())
    knowledge = load_knowledge(tmp_path)
    assert knowledge.confidence_weights == {}
    match = EnquiryAssistant(knowledge).retriever.best("How many cigarettes can I bring into Hong Kong?")
    assert 0.0 < match.confidence <= 1.0


def test_the_calibration_fit_orders_examples_by_their_feature() -> None:
    x = np.array([[1.0, v] for v in np.linspace(0, 1, 40)])
    y = (x[:, 1] > 0.5).astype(float)
    weights = calibrate.fit(x, y)
    p = 1 / (1 + np.exp(-(x @ weights)))
    assert weights[1] > 0 and p[0] < 0.2 and p[-1] > 0.8


def test_the_second_tuning_set_shares_no_question_with_a_held_out_set() -> None:
    tuning_b = {c.question for c in evaluate.load_gold("tuning_b")}
    tuning = {c.question for c in evaluate.load_gold("tuning")}
    for name in ("heldout", "heldout_b", "heldout_c"):
        assert not tuning_b & {c.question for c in evaluate.load_gold(name)}, name
    heldout_c = evaluate.load_gold("heldout_c")
    assert len(heldout_c) >= 120 and sum(c.expect == evaluate.HANDOVER for c in heldout_c) >= 20
    # heldout_c was written without reading tuning.toml; two short questions came out the same
    assert tuning & {c.question for c in heldout_c} == {"fine for not declaring money", "航班延誤點算"}


def test_the_fourth_held_out_set_loads_and_names_only_entries_of_the_knowledge_base() -> None:
    heldout_d = evaluate.load_gold("heldout_d")
    entry_ids = {e.entry_id for e in load_knowledge().entries}
    expected = {c.expect for c in heldout_d if c.expect != evaluate.HANDOVER}
    assert len(heldout_d) == 120 and sum(c.expect == evaluate.HANDOVER for c in heldout_d) == 15
    assert expected == entry_ids


def test_the_sample_week_reports_every_question_it_asked(capsys: pytest.CaptureFixture[str]) -> None:
    assert sample_week.main(["--questions", "20", "--seed", "3"]) == 0
    report = capsys.readouterr().out
    assert report.startswith("Enquiries 2026-03-02 to 2026-03-08: 20 questions")


def test_trigrams_of_known_words_are_weak_and_those_of_a_typo_strong(assistant: EnquiryAssistant) -> None:
    terms = assistant.retriever.terms("qwzzyx cigarette allowance")
    assert "#ci" in terms.known_chars and "#al" in terms.known_chars
    assert "#qw" in terms.chars and "#qw" not in terms.known_chars  # no word of the vocabulary is near
    chars = assistant.retriever.chars
    weight = assistant.retriever.settings.known_trigram_weight
    assert 0 < weight < 1
    known = assistant.retriever.terms("cigarette allowance")
    weighted = _weighted(chars, [], known.known_chars, weight)
    assert max(weighted) == pytest.approx(weight * max(chars.scores(known.chars)))


def test_out_of_scope_patterns_match_through_a_typo_but_not_another_word(assistant: EnquiryAssistant) -> None:
    analyser = assistant.retriever.analyser
    assert analyser.out_of_scope("my fligt is delayed") == "flights"
    assert analyser.out_of_scope("what's the exchnge rate todaay") == "other-services"
    assert analyser.out_of_scope("punishment for hiding cash from customs") == ""  # not "hiring"
    assert analyser.out_of_scope("ivory carving") == ""  # not "driving"
    assert edit_distance("hiding", "hiring", 2, substitution=2) == 2
    assert edit_distance("fligt", "flight", 1, substitution=2) == 1
    # a common word is a word, not a typo of a pattern's word
    assert analyser.out_of_scope("do cheques count when I work out whether I am over the limit") == ""


@pytest.mark.parametrize(
    ("question", "scope"),
    [
        ("Do I need a visa to visit Hong Kong?", "immigration"),
        ("Can I pay the duty with Visa or Octopus?", ""),  # the card
        ("我銀包唔見咗點算", "lost-property"),
        ("買酒嘅單唔見咗,海關點估稅?", ""),  # a lost receipt is a duty question
        ("Where is the duty free shop in the arrivals hall?", "airport-services"),
        ("How much is a carton at the duty free shop?", "airport-services"),
        ("Bought three cartons at the duty free shop, am I over?", ""),
        ("入境澳門可以帶幾多現金?", "other-countries"),
        ("去 Macau 嘅 customs 准唔准帶電子煙?", "other-countries"),
        ("去日本旅行,返嚟可以帶幾多支酒?", ""),  # coming back to Hong Kong
        ("喺香港轉機去台灣,使唔使過海關?", ""),  # a transit question
        ("We supply restaurants with imported whisky: which licence do we need?", ""),
        ("Any good restaurants near the border?", "food-and-places"),
        ("Where is my parcel? The tracking number says it is in clearance", "other-services"),
        ("How do I register a company to start trading?", "other-services"),
        ("出境內地可以帶幾多人民幣?", "other-countries"),  # the mainland's exit rule
        ("返大陸可以帶幾多罐奶粉出境?", ""),  # Hong Kong's export rule
        ("Is smoking allowed inside the terminal?", "airport-services"),
        # from heldout_k, a tuning set since
        ("航空公司把我的行李箱弄丢了,说明天才送到,海关怎么处理?", ""),  # delayed baggage, not lost property
        ("I left my umbrella at the control point, who do I call?", "lost-property"),
        ("What time does the Lok Ma Chau Spur Line control point close tonight?", "opening-hours"),
        ("My tracking 7781 2234 9901 is held by customs, when will you release it?", "other-services"),
        ("搭長榮航空,託運行李可以幾公斤?", "flights"),
        # from heldout_l and heldout_m, tuning sets since
        ("Macau 入境嘅 cash limit 係幾多?", "other-countries"),
        ("從澳門入境香港可以帶幾多現金?", ""),  # entering Hong Kong from Macau
        ("去澳門可以帶幾多支煙過關?", "other-countries"),
        ("Leaving HK with cash for my factory in Vietnam, do I declare it on the way out?", ""),
        ("想apply Customs Officer個job,requirements係咩?", "jobs"),  # a space where the scripts meet
        ("My DHL parcel, tracking 4829371620, is stuck. Can you check where it is?", "other-services"),
        ("香港哪里买化妆品最便宜?", "airport-services"),
        ("Honestly, do you think the vape ban was a good idea?", "opinions-and-future-rules"),
        ("你覺得禁電子煙有冇用?", "opinions-and-future-rules"),
        ("Will the duty rate on spirits go up again next year?", "opinions-and-future-rules"),
        ("Do you think I need to declare 3 bottles of wine?", ""),
        # from heldout_o and tuning_f, tuning sets since: a request, an application's state, another
        # department, a rule's future, a verdict on it, one's own seizure, live figures, where to buy
        ("Could you email me the declaration form as a PDF?", "requests-and-applications"),
        ("可唔可以幫我預約聽日去貨站?", "requests-and-applications"),
        ("申請咗牌照兩個月,幾時批?", "requests-and-applications"),
        ("How long does the Trade and Industry Department take to process it?", "requests-and-applications"),
        ("香港以后会不会放开电子烟?", "requests-and-applications"),
        ("Is the vape ban fair to adults who want to quit?", "requests-and-applications"),
        ("為什麼海關扣了我的手提電腦?", "requests-and-applications"),
        ("What is the cash declaration limit when entering Macau?", "requests-and-applications"),
        ("I'm from Macau: how much cash can I bring into HK?", ""),
        ("今日下晝貨站有幾多架貨車排緊隊?", "requests-and-applications"),
        ("喺香港邊度可以合法買到加熱煙?", "requests-and-applications"),
        ("Why would customs hold my DHL parcel?", ""),  # why parcels are held: an entry's
        ("Can I bring 4 tins of formula to Jakarta, is that too much?", ""),
    ],
)
def test_out_of_scope_patterns_tell_another_authority_from_a_customs_question(
    assistant: EnquiryAssistant, question: str, scope: str
) -> None:
    assert assistant.retriever.analyser.out_of_scope(question) == scope


def test_brands_reach_their_category_and_ambiguous_words_do_not(assistant: EnquiryAssistant) -> None:
    assert "liquor" in assistant.retriever.terms("two bottles of hennessy").words
    assert "cigarett" in assistant.retriever.terms("a carton of mevius").words
    assert "chequ" not in assistant.retriever.terms("customs check my suitcase").words
    assert "cigarett" not in assistant.retriever.terms("can i pack a knife").words
    assert "liquor" not in assistant.retriever.terms("duty free allowance for china").words
    assert assistant.ask("is a bottle of jack daniels duty free").best_entry_id == "allowance-liquor"


def test_accented_letters_are_read_as_the_knowledge_base_spells_them(assistant: EnquiryAssistant) -> None:
    terms = assistant.retriever.terms("Can I bring a vacuum-packed jamón ibérico leg back from Madrid?")
    assert "jamon" in terms.words and "meat" in terms.words
    assert fold_accents("Crème brûlée, 香港") == "Creme brulee, 香港"


def test_a_kind_of_goods_jieba_glued_to_a_neighbour_is_still_counted(assistant: EnquiryAssistant) -> None:
    words = assistant.retriever.terms("我們一家四口,酒都裝在爸爸的行李箱裡").words
    assert "酒都" in words and "酒" in words and "liquor" in words
    assert "酒" not in assistant.retriever.terms("入境香港要申報嗎").words


def test_a_second_assistant_in_the_process_cuts_chinese_as_the_first_does() -> None:
    import jieba  # type: ignore[import-untyped]

    first = EnquiryAssistant()
    lexicon = first.retriever.analyser.lexicon
    chinese_terms = [term for term in lexicon.synonyms if not term.isascii()]
    words = [*lexicon.words_zh, *lexicon.cantonese.values(), *chinese_terms]
    before = {w: jieba.dt.FREQ.get(w) for w in words}
    question = "我在香港开了家小卖部,带几条中华烟回来卖,怎么算税?"
    cut = first.retriever.terms(question).words
    EnquiryAssistant()  # jieba's dictionary is the process's: the same words must not be added again
    assert {w: jieba.dt.FREQ.get(w) for w in words} == before
    assert first.retriever.terms(question).words == cut


def test_a_large_amount_in_a_question_is_money(assistant: EnquiryAssistant) -> None:
    terms = assistant.retriever.terms("we have 100k each")
    assert "100000" in terms.words and "currency" in terms.words
    assert "120000" in assistant.retriever.terms("HK$120,000").words  # the knowledge base's figures alike
    assert "currency" not in assistant.retriever.terms("a 1.5 litre bottle").words


def test_a_concept_the_question_did_not_say_counts_concept_weight(assistant: EnquiryAssistant) -> None:
    from dataclasses import replace

    from smartcustoms.plugins.enquiry.retrieval import Retriever

    settings = assistant.retriever.settings
    assert settings.concept_weight > 1
    once = Retriever(assistant.knowledge, replace(settings, concept_weight=1.0))
    terms = once.terms("booze limit")
    assert "liquor" in terms.words and "liquor" not in terms.plain
    liquor = once.words.scores(["liquor"])
    gained = [a - b for a, b in zip(assistant.retriever.scores(terms), once.scores(terms), strict=True)]
    assert gained == pytest.approx([(settings.concept_weight - 1) * s for s in liquor])


def test_the_fourth_tuning_set_is_english_and_asks_about_every_entry() -> None:
    tuning_d = evaluate.load_gold("tuning_d")
    entry_ids = {e.entry_id for e in load_knowledge().entries}
    assert {c.language for c in tuning_d} == {"en"}
    assert {c.expect for c in tuning_d if c.expect != evaluate.HANDOVER} == entry_ids
    assert sum(c.expect == evaluate.HANDOVER for c in tuning_d) == 14


@pytest.mark.parametrize(
    ("question", "expected", "lexical_choice"),
    [  # from the tuning sets: the words alone pick a neighbour, the multilingual model's cosines do not
        (
            "同老公一齊返香港,兩支XO都放咗喺我個喼度,可唔可以當係一人一支?",
            "allowance-pooling",
            "clearance-inspection",
        ),
        ("海關有冇二十四小時電話可以打去查詢?", "clearance-contact", "allowance-resident-24h"),
        ("喺日本網站買咗啲化妝品,用速遞寄嚟,要唔要自己報關?", "cargo-express", "duty-no-general-tariff"),
    ],
)
def test_chinese_questions_are_ranked_with_the_multilingual_model(
    assistant: EnquiryAssistant, question: str, expected: str, lexical_choice: str
) -> None:
    from dataclasses import replace

    from smartcustoms.plugins.enquiry.retrieval import Retriever

    retriever = assistant.retriever
    words_only = Retriever(
        assistant.knowledge,
        replace(
            retriever.settings,
            multilingual_question_weight=0.0,
            multilingual_answer_weight=0.0,
            multilingual_centroid_weight=0.0,
        ),
        retriever.encoder,
        retriever.multilingual,
    )
    assert words_only.best(question).entry.entry_id == lexical_choice
    assert retriever.best(question).entry.entry_id == expected


def test_every_gold_set_names_entries_that_exist() -> None:
    from smartcustoms.plugins.enquiry.tools.cli import SETS

    entry_ids = {e.entry_id for e in load_knowledge().entries}
    for name in SETS:
        if name == "generated":
            continue
        cases = evaluate.load_gold(name)
        assert cases, name
        assert {c.expect for c in cases} - {evaluate.HANDOVER} <= entry_ids, name
        assert {c.language for c in cases} <= {"en", "zh-Hant", "zh-Hans", "mixed"}, name


def test_the_threshold_is_the_calibration_rules_on_the_tuning_sets(assistant: EnquiryAssistant) -> None:
    # a change to the knowledge base or the features that moves the must-hand-over questions' confidence
    # must come with the threshold the documented rule gives for it
    from smartcustoms.plugins.enquiry.tools.calibrate import rule_threshold, tuning_sets

    assert rule_threshold(assistant, tuning_sets()) == pytest.approx(assistant.retriever.settings.threshold)


def test_the_threshold_rule_weighs_every_tuning_set_alike() -> None:
    # two sets' must-hand-over questions, their confidences as the question text: a large set easily
    # told apart must not lower the threshold the small one needs
    from types import SimpleNamespace

    from smartcustoms.plugins.enquiry.tools.calibrate import rule_threshold

    retriever = SimpleNamespace(
        best=lambda question: SimpleNamespace(features={"c": float(question)}),
        confidence=lambda features: features["c"],
    )
    assistant: Any = SimpleNamespace(retriever=retriever)
    easy = [evaluate.GoldCase("0.1", "en", evaluate.HANDOVER)] * 90
    hard = [evaluate.GoldCase(str(c), "en", evaluate.HANDOVER) for c in (0.9, 0.8, 0.75, 0.6, 0.5)]
    answerable = [evaluate.GoldCase("0.99", "en", "allowance-liquor")]  # not a must-hand-over question
    # pooled, 0.11 would do (5 of 95 answered); by set, the mean share is over 15% until one of hard's
    # five is left (at 0.81: 20% and 0%)
    assert rule_threshold(assistant, {"easy": easy, "hard": hard + answerable}) == pytest.approx(0.81)
    assert rule_threshold(assistant, {"hard": hard}) == pytest.approx(0.91)  # none of five


def test_the_scope_model_hands_over_what_no_pattern_names(assistant: EnquiryAssistant) -> None:
    # from heldout_n, a tuning set since: live information no entry holds and no pattern names
    from smartcustoms.plugins.enquiry.retrieval import SCOPE_MODEL

    scope = assistant.knowledge.scope
    assert scope is not None and len(scope.weights) == 384 and 0.3 <= scope.gate <= 0.7
    question = "How long is the queue at Shenzhen Bay control point right now? Thinking of crossing at 6pm."
    assert assistant.retriever.analyser.out_of_scope(question) == ""
    match = assistant.retriever.best(question)
    assert match.out_of_scope == SCOPE_MODEL and match.features["in_scope"] < scope.gate
    assert match.confidence <= assistant.retriever.settings.out_of_scope_cap
    assert assistant.ask(question).handed_over
    answer = assistant.ask("How many bottles of wine can I bring in duty free?")
    assert not answer.handed_over and answer.entry_id == "allowance-wine-beer"


def test_without_a_scope_file_only_the_patterns_and_the_confidence_hand_over(tmp_path: Path) -> None:
    from smartcustoms.plugins.enquiry.knowledge import SCOPE_FILE

    for path in default_folder().glob("*.toml"):
        if path.name != SCOPE_FILE:
            (tmp_path / path.name).write_bytes(path.read_bytes())
    knowledge = load_knowledge(tmp_path)
    assert knowledge.scope is None
    match = EnquiryAssistant(knowledge).retriever.best("How long is the queue at Shenzhen Bay right now?")
    assert match.out_of_scope == "" and match.features["in_scope"] == 1.0


def test_a_scope_file_without_its_gate_or_with_one_out_of_range_is_refused(tmp_path: Path) -> None:
    from smartcustoms.plugins.enquiry.knowledge import SCOPE_FILE

    for path in default_folder().glob("*.toml"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    (tmp_path / SCOPE_FILE).write_text("[scope]\nbias = 0.1\nweights = [0.5, 0.5]\n")
    with pytest.raises(KnowledgeError, match="needs bias, weights and gate"):
        load_knowledge(tmp_path)
    (tmp_path / SCOPE_FILE).write_text("[scope]\nbias = 0.1\nweights = [0.5]\ngate = 1.5\n")
    with pytest.raises(KnowledgeError, match="gate must be in"):
        load_knowledge(tmp_path)


def test_the_scope_rule_passes_the_fewest_unguarded_questions_within_the_loss_it_allows() -> None:
    from smartcustoms.plugins.enquiry.tools.calibrate import SCOPE_MAX_LOSS, ScopeSet, scope_rule

    rng = np.random.default_rng(5)

    def one_set(n: int) -> ScopeSet:
        answerable = rng.random(n) < 0.6
        signal = np.where(answerable, 1.0, -1.0) + rng.normal(0, 0.6, n)  # the embedding's one column
        x = np.column_stack([np.ones(n), signal])
        answered = rng.random(n) < 0.5
        # the patterns hand over every must-hand-over question they know: only the confidence alone leaks
        return ScopeSet(x, answerable, answerable & (rng.random(n) < 0.7), answered & answerable, answered)

    sets = {f"s{i}": one_set(300) for i in range(4)}
    chosen, table = scope_rule(sets)
    assert chosen in table and chosen.loss <= SCOPE_MAX_LOSS
    # nothing within the loss allowed passes fewer of the questions the confidence alone would answer
    assert all(row.unguarded >= chosen.unguarded for row in table if row.loss <= SCOPE_MAX_LOSS)
    assert any(row.unguarded < chosen.unguarded for row in table if row.loss > SCOPE_MAX_LOSS)
    assert all(row.leak == 0.0 for row in table)  # what the patterns leave is not what the rule reads
    for l2 in {row.l2 for row in table}:  # a higher gate passes fewer, whatever the regularisation
        unguarded = [row.unguarded for row in table if row.l2 == l2]
        assert unguarded == sorted(unguarded, reverse=True)


def test_the_scope_model_keeps_every_question_the_knowledge_base_answers(assistant: EnquiryAssistant) -> None:
    # the knowledge base's own questions count ten times in the fit: without that, the bare "How many
    # cigarettes can I bring into Hong Kong?" fell below the gate among its near-copies naming another place
    from smartcustoms.plugins.enquiry.tools.calibrate import knowledge_cases

    scope = assistant.knowledge.scope
    assert scope is not None
    questions = [case.question for case in knowledge_cases(assistant)]
    assert len(questions) > 300
    vectors = assistant.retriever.multilingual.queries(questions)
    below = [q for q, v in zip(questions, vectors, strict=True) if scope.probability(v) < scope.gate]
    assert below == []
