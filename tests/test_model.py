"""The model of what a message means, on messages written for these tests (not the dev set,
not the examples it learns from)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from content.check import DEFAULT_TOPICS
from content.loader import AREAS_DIR, load_content
from content.model import EXAMPLES_DIR
from content.model_cache import content_hash
from content.training import fit, train
from handlers.router import answer_text

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("question, topic", [
    ("高龄老人的牛奶券哪能领", "elderly_milk_voucher"),  # Shanghainese
    ("小囡想学围其,有啥比赛伐", "weiqi_go"),  # homophone typo 围其 for 围棋
    ("加装电梯", "elevator_installation"),  # very short
    ("寒假托班", "childcare_holiday_class"),
    ("How do I join the Tangqiao chamber of commerce?", "chamber_of_commerce"),
    ("I was laid off and I am out of work, can the subdistrict help?", "jobs_employment_assistance"),
    ("Got a scam call pretending to be the police, what should I do", "anti_fraud"),
])
def test_confident_answer(core, question, topic):
    understood = core.model.understand(question)
    assert (understood.kind, understood.topic) == ("answer", topic), understood


def test_long_rambling_message_still_finds_the_topic(core):
    question = ("我跟侬讲,阿拉屋里老头子今年九十二岁了,身体还可以,就是耳朵不大灵光,"
                "每天早上要去公园走一圈,回来吃点早饭看看报纸," * 5 + "听说高龄老人有牛奶券发,到啥地方去领?")
    assert core.model.understand(question).topic == "elderly_milk_voucher"


@pytest.mark.parametrize("question", [
    "今天上海股市行情怎么样",
    "帮我订一张去北京的高铁票",
    "What's the best bubble tea shop near the metro?",
    "静安区的社区食堂在哪里",  # another district
    "asdfgh qwerty",
    "帮我写一段Python代码,把Excel表格转成PDF",
])
def test_out_of_scope_gets_no_topic(core, question):
    assert core.model.understand(question).kind in ("fallback", "clarify")


async def test_torn_question_asks_with_candidates(core):
    reply = await answer_text("老人", "zh", None, core)
    assert reply.kind in ("clarify", "fallback")
    if reply.kind == "clarify":
        assert 2 <= len(reply.candidates) <= 3
        assert len(reply.messages[0].buttons) == len(reply.candidates)


@pytest.mark.parametrize("text, kind", [
    ("您好", "greeting"),
    ("Thanks a lot!", "greeting"),
    ("楼下饭店的油烟天天往我家里飘,窗都不敢开,谁来管管", "complaint"),
    ("Someone keeps dumping rubbish in our stairwell for weeks, can someone fix it?", "complaint"),
    ("建议在小区门口多装几个路灯", "opinion"),
    ("我上个月投诉的噪音问题,现在进度怎么样了", "ticket_status"),
    ("人行道上的窨井盖不见了,晚上走路要掉下去的", "complaint"),
    ("工地每天夜里十一点还在打桩,小孩根本睡不着", "complaint"),
])
async def test_intents(core, text, kind):
    assert (await answer_text(text, "zh", None, core)).kind == kind


def test_no_dev_sentence_in_the_content_base(core):
    dev = DEFAULT_TOPICS.parent / "dev.jsonl"
    if not dev.exists():
        pytest.skip("dev set not present")
    # sentences, that is: a one-word dev question such as 宝宝屋 may well be a sample question
    questions = {q for line in dev.read_text(encoding="utf-8").splitlines() if line.strip()
                 if len(q := json.loads(line)["q"].strip()) >= 6}
    for entry in core.content.entries.values():
        for phrase in [*entry.questions.zh, *entry.questions.en, *entry.keywords.zh, *entry.keywords.en]:
            assert phrase.strip() not in questions, (entry.id, phrase)


def test_ask_json_contract():
    """`python -m bot ask --json` prints one JSON object per input line, in order."""
    questions = ["高龄老人牛奶券怎么领", "", "What is the weather tomorrow?", "你好"]
    out = subprocess.run([sys.executable, "-m", "bot", "ask", "--json"], input="\n".join(questions) + "\n",
                         capture_output=True, text=True, cwd=ROOT, check=True)
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["q"] for r in rows] == questions
    assert rows[0]["kind"] == "answer" and rows[0]["topic"] == "elderly_milk_voucher"
    assert "据《塘桥街道2025年社代会报告》" in rows[0]["reply"] and "2731" in rows[0]["reply"]
    assert rows[2]["kind"] == "fallback" and "12345" in rows[2]["reply"]
    assert rows[3]["kind"] == "greeting"
    for r in rows:
        assert set(r) == {"q", "kind", "topic", "candidates", "score", "reply"}
        assert 0 <= r["score"] <= 100


def _copy_content(tmp_path: Path) -> tuple[Path, Path]:
    areas, examples = tmp_path / "areas", tmp_path / "examples"
    shutil.copytree(AREAS_DIR, areas)
    shutil.copytree(EXAMPLES_DIR, examples)
    return areas, examples


def test_the_same_content_trains_the_same_model():
    content = load_content()
    first, second = train(content), train(content)
    assert first.classes == second.classes and first.vocabulary == second.vocabulary
    assert first.thresholds == second.thresholds
    assert np.array_equal(first.weights, second.weights) and np.array_equal(first.intercept, second.intercept)


def test_the_cache_key_follows_the_content_and_the_examples(tmp_path):
    areas, examples = _copy_content(tmp_path)
    before = content_hash(areas, examples)
    assert content_hash(areas, examples) == before
    with (examples / "greeting.jsonl").open("a", encoding="utf-8") as f:
        f.write(json.dumps({"q": "侬好呀", "label": "greeting"}, ensure_ascii=False) + "\n")
    assert content_hash(areas, examples) != before


def test_the_running_model_scores_exactly_as_scikit_learn(core):
    """The bot applies the trained arrays itself (no scikit-learn at start-up): the scores must
    be the SVM's own, to rounding, on every kind of text."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    from content.training import C, entry_texts, features_for, read_examples

    content = load_content()
    data = entry_texts(content) + read_examples(content)[0]
    features = features_for()
    vectorizer = TfidfVectorizer(analyzer=features, sublinear_tf=True)
    svm = LinearSVC(C=C, random_state=0).fit(vectorizer.fit_transform([d.text for d in data]), [d.label for d in data])
    ours = fit(features, data)
    probes = ["高龄老人牛奶券怎么领", "My grandma is 92, milk vouchers?", "", "🙂🙂", "围其比赛", "x" * 900,
              "楼下烧烤店油烟天天往我家灌,谁来管管"]
    expected = svm.decision_function(vectorizer.transform(probes))
    assert np.allclose([ours.scores(p) for p in probes], expected, atol=1e-5)  # weights kept in float32


def test_the_cached_model_is_the_trained_model(core, tmp_path):
    from content.emergency import EmergencySigns
    from content.features import features_for
    from content.model import Model

    core.model.save(tmp_path / "m.npz")
    loaded = Model.load(tmp_path / "m.npz", features_for(), EmergencySigns())
    assert loaded.classes == core.model.classes and loaded.thresholds == core.model.thresholds
    for text in ["高龄老人牛奶券怎么领", "楼下烧烤店油烟天天往我家灌", "What's the weather?", ""]:
        assert np.array_equal(loaded.scores(text), core.model.scores(text))


def test_an_example_with_an_unknown_label_is_reported(tmp_path):
    from content.training import read_examples

    _, examples = _copy_content(tmp_path)
    (examples / "bad.jsonl").write_text('{"q": "你好", "label": "no_such_label"}\nnot json\n', encoding="utf-8")
    _, problems = read_examples(load_content(), examples)
    assert [str(p) for p in problems] == ["examples/bad.jsonl:1: unknown label 'no_such_label'",
                                          'examples/bad.jsonl:2: not a JSON object with "q" and "label"']


@pytest.mark.parametrize("question, term", [
    ("星期五学堂在哪里报名", "星期五学堂"),  # named in the report, no entry, no details
    ("悦读塘桥行走的家庭课堂怎么参加", "家庭课堂"),
])
async def test_what_the_report_names_without_details_is_said_so(core, question, term):
    reply = await answer_text(question, "zh", None, core)
    assert reply.kind == "fallback"
    text = reply.messages[0].text
    assert f"提到了“{term}”" in text and "没有这方面的内容" not in text
    passage = text.split("<blockquote>")[1].split("</blockquote>")[0].strip("…")
    assert passage in _report()  # quoted verbatim


async def test_what_the_report_does_not_name_is_not_in_it(core):
    reply = await answer_text("明天上海天气怎么样", "zh", None, core)
    assert reply.kind == "fallback" and "没有这方面的内容" in reply.messages[0].text
    elsewhere = await answer_text("静安区的社区食堂在哪里", "zh", None, core)  # another district: said plainly
    assert elsewhere.kind == "fallback" and "只负责" in elsewhere.messages[0].text


def _report() -> str:
    from content.loader import REPORT_PATH

    return REPORT_PATH.read_text(encoding="utf-8")
