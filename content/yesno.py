"""A yes/no question ("要收费吗?", "周末开伐", "有没有老年助餐点", "Is it free?") gets yes, no or "the
report does not say" first, taken from the entry's line for the asked aspect, never a yes the line
does not carry.

Whether a question is yes/no is a rule over its form, not learned: the forms are few and closed
(吗 / 嘛, 伐 / 哦 at a clause's end, 有没有, 是不是, A不A such as 收不收 or 能不能, 是否; in English a
clause opening with is / are / can / do / does ...), and a question word (哪里, 几点, 多少, where,
how much) makes it an open question whatever its ending ("你知道在哪里吗" asks where).

The verdict compares what the question asks with the line, both read with this module's words,
in the clauses of what the report says (not what it lacks, not general knowledge, not the bot's own
directions to 12345 or the committee):
- cost: asked "free?" or "is there a charge?"; the Chinese line says free (免费, 不收费) or a charge
  (收费, 自费; an amount is no charge: subsidies are amounts too): the same is yes, the opposite no.
- when / where / apply / eligibility: the time (周末, 晚上), road (峨山路), way (网上, 预约) or group
  (外地, 退休) asked must be in the line: yes, or "planned" when the line is a plan (2025年, 计划).
- exist / done ("有没有宝宝屋", "Are there job fairs?"): asked of more than the thing (a free one, one
  at weekends) it is that aspect's question; asked of the thing alone, yes when a sentence of the
  report's own words names it ("planned" when that sentence is a plan), else not settled.
Anything else is "not stated": what the report lacks and where to ask, with the line it has.
`content check` asks probe questions of every entry (verdict_problems): whatever a yes, no or plan
would rest on must be in the entry's quotes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from content.aspects import ASPECTS, aspect_line, aspect_of, speaks
from content.claims import NOT_FROM_REPORT
from content.schema import Entry

_QUESTION_WORD = {
    "zh": re.compile(r"哪里|哪儿|哪个|哪条|哪家|哪天|哪能|啥地方|什么地方|啥辰光|几点|几号|几时|几钿|多少|多久|多大|"
                     r"怎么|怎样|如何|为什么|为啥|谁|啥人|(?<!有)(?<!没有)(?:什么|啥)(?!的吧)"),
    "en": re.compile(r"\b(?:what|where|when|which|who|whom|whose|why|how)\b", re.IGNORECASE)}
_YES_NO = {
    "zh": re.compile(r"[吗嘛么麽][\s？?！!。，,~～呀啊呢]*$|[伐哦]\s*(?:[？?！!。，,~～呀啊]|$)|有没有?|有木有|有冇|有无|"
                     r"是不是|是否|能否|可否|([\u4e00-\u9fff])[不没]\1|要不要|吧[？?]*$"),
    "en": re.compile(r"(?:^|[.,;!?]\s*)(?:is|are|am|was|were|can|could|do|does|did|will|would|should|may|must|"
                     r"has|have|any)\b", re.IGNORECASE)}


def script(text: str) -> str:
    """The language a question is written in: en when it has Latin words and no Chinese."""
    return "en" if re.search(r"[a-zA-Z]{2}", text) and not re.search(r"[\u4e00-\u9fff]", text) else "zh"


def is_yes_no(question: str) -> bool:
    """A question answered by yes or no, in its form (see the module's docstring)."""
    lang, text = script(question), question.strip()
    return bool(_YES_NO[lang].search(text)) and not _QUESTION_WORD[lang].search(text)


# What a cost question asks, and what a line says: free, or a charge. 收不收费 / 要不要钱 ask a charge;
# an amount in a line is no charge (subsidies are amounts too).
_FREE = {"zh": r"免费|(?<![收要])不收费|(?<![收要])不要钱|(?<![收要])不收钱|(?<![收要])不用付|白送|不花钱|(?<![收要])不要铜钿",
         "en": r"\bfree\b|\bno (?:fee|charge)s?\b|\bwithout (?:paying|charge)\b|costs? nothing"}
_ASKS_CHARGE = {"zh": r"收费|收钱|付费|付钱|交钱|出钱|掏钱|自费|铜钿|钞票|要钱|收不收|贵",
                "en": r"\bpay\b|\bcharges?\b|\bfees?\b|\bcosts?\b|\bexpensive\b"}
_SAYS_CHARGE = r"收费|自费|付费|有偿|低偿"
# The time, way or group a question asks about, found the same way in the line.
_ASKED = {
    "when": {"zh": r"周末|周[一二三四五六日天]|星期[一二三四五六日天]|礼拜[一二三四五六日天]|晚上|夜里|早上|上午|下午|中午|每天|天天|"
                   r"24小时|节假日|过年|春节|国庆|暑假|寒假",
             "en": r"\bweekends?\b|\b(?:mon|tues|wednes|thurs|fri|satur|sun)days?\b|\bevenings?\b|\bnights?\b|\bmornings?\b|"
                   r"\bafternoons?\b|\bdaily\b|every day|\bholidays?\b"},
    "where": {"zh": r"[\u4e00-\u9fff]{2,3}路",
              "en": r"\b[A-Z][a-z]+ (?:Road|Street)\b"},
    "apply": {"zh": r"网上|线上|手机|随申办|小程序|公众号|扫码|电话|现场|预约|代办|代领|本人|填表|身份证",
              "en": r"\bonline\b|\bphone\b|\bapp\b|in person|\bappointment\b|\bbook\b|on my behalf|for me|\bID\b|\bform\b"},
    "eligibility": {"zh": r"外地|外省|非本地|本地|户口|户籍|退休|老人|老年|残疾|孩子|小孩|小囡|学生|年轻人|青年|外国|租房|租客|"
                          r"失业|低保|独居|孤老",
                    "en": r"\bnon-?locals?\b|\blocals?\b|\bretired\b|\bretirees?\b|\bforeigners?\b|\bchildren\b|\bkids?\b|"
                          r"\bstudents?\b|\brenters?\b|\btenants?\b|\bunemployed\b|\belderly\b|\bseniors?\b|\bdisabled\b"},
}
# A plan, not a programme's name (明珠计划, 三年行动计划) nor an emergency plan.
_PLAN = {"zh": re.compile(r"(?<!明珠)(?<!行动)计划|将(?!近)|拟|2025年|今年|打算"),
         "en": re.compile(r"\bplans? (?:to|for)\b|\bplans? a\b|\bthe plans?\b(?! was| is)|\bplanned\b|\bwill\b|"
                          r"\bin 2025\b|\bfor 2025\b", re.I)}
_NEGATED = {"zh": re.compile(r"没有|未|并非|不清楚|只写|无法"),
            "en": re.compile(r"\b(?:not|no|nor|never|only gives|only names)\b|n't\b", re.IGNORECASE)}
# The bot's own directions in an answer (ask the committee, call 12345): not the report's words.
_ADVICE = {"zh": re.compile(r"12345|居委会"), "en": re.compile(r"12345|neighbourhood committee|juweihui", re.IGNORECASE)}
_CLAUSE = {"zh": re.compile(r"[^，。；！？：\n]+"), "en": re.compile(r"(?:[^,;:.!?\n]|\.(?=\d))+")}
_SENTENCE = {"zh": re.compile(r"[^。；！？\n]+[。；！？]?"), "en": re.compile(r"(?:[^.;!?\n]|\.(?=\d))+[.;!?]?")}
_SAYS = re.compile(r"^(?:报告写到：|报告写道：|报告写的是：|报告只写到：|What (?:the report|it) says: )")


@dataclass(frozen=True)
class Lead:
    """The line put before the card. verdict: None (not a yes/no question: the aspect's line),
    "yes", "no", "planned" or "not_stated"; line: the report's line (None: the answer has none)."""

    aspect: str
    line: str | None
    verdict: str | None = None

    def lacks(self, lang: str) -> bool:
        """The line speaks of the aspect only to say what the report does not give."""
        if self.line is None or self.aspect not in ASPECTS:
            return False
        return not any(speaks(self.aspect, lang).search(c) for c in _unnegated(self.line, lang))


def lead(entry: Entry, question: str, lang: str) -> Lead | None:
    """The line a question gets before the card, or None (the card alone)."""
    aspect = aspect_of(question)
    if aspect is None:
        return None
    if not is_yes_no(question):
        return Lead(aspect, aspect_line(entry, aspect, lang)) if aspect != "exist" else None
    if aspect in ("exist", "done"):
        aspect = qualifier(question) or aspect  # "有没有免费的宝宝屋" asks whether it is free
    if aspect in ("exist", "done"):
        line, _ = named_line(entry, question, lang)
        if line is None:  # not settled: say so, and what the report does say
            done = aspect_line(entry, "done", lang)
            return Lead(aspect, done, "not_stated") if done else None
        return Lead(aspect, line, "planned" if _PLAN[lang].search(line) else "yes")
    line = aspect_line(entry, aspect, lang)
    return Lead(aspect, line, verdict(aspect, question, line, lang, aspect_line(entry, aspect, "zh"))[0])


# Groups that qualify "is there ... for X" (外地人, renters); 老人 or 孩子 are more often the subject itself.
_FOR_GROUP = {"zh": r"外地|外省|非本地|户口|户籍|外国|租房|租客", "en": r"\bnon-?locals?\b|\bforeigners?\b|\brenters?\b|\btenants?\b"}


def qualifier(question: str) -> str | None:
    """The aspect an "is there ...?" question also asks (a free one, one at weekends, one online, one
    on a road, one for non-locals): a yes that it exists would not answer it."""
    lang = script(question)
    flags = re.IGNORECASE if lang == "en" else 0
    if re.search(_FREE[lang], question, flags) or re.search(_ASKS_CHARGE[lang], question, flags):
        return "cost"
    for aspect in ("when", "apply", "where"):
        if re.search(_ASKED[aspect][lang], question, flags):
            return aspect
    return "eligibility" if re.search(_FOR_GROUP[lang], question, flags) else None


def verdict(aspect: str, question: str, line: str | None, lang: str,
            zh_line: str | None = None) -> tuple[str, tuple[str, ...]]:
    """yes / no / planned / not_stated for a yes/no question about one aspect, on that aspect's line
    (in `lang`), and the words of the line it rests on. Free or not is read in the Chinese line
    (`zh_line` for an English question): "free clinics" is 义诊 there, no word on the price."""
    said = _unnegated(line or "", lang)
    if not said or script(question) != lang:  # a question and a line in two languages: nothing to compare
        return "not_stated", ()
    flags = re.IGNORECASE if lang == "en" else 0
    if aspect == "cost":
        asks_free = re.search(_FREE[lang], question, flags) is not None
        asks_charge = not asks_free and re.search(_ASKS_CHARGE[lang], question, flags) is not None
        said = _unnegated(line if lang == "zh" else zh_line or "", "zh")
        free = [m.group(0) for c in said for m in re.finditer(_FREE["zh"], c)]
        charge = [m.group(0) for c in said if not re.search(_FREE["zh"], c) for m in re.finditer(_SAYS_CHARGE, c)]
        if bool(free) != bool(charge) and (asks_free or asks_charge):
            return ("yes" if asks_free == bool(free) else "no"), tuple(free or charge)
        return "not_stated", ()
    pattern = _ASKED.get(aspect, {}).get(lang)
    asked = [m.group(0) for m in re.finditer(pattern, question, flags)] if pattern else []
    basis = [_in_line(term, aspect, lang) for term in asked]
    if asked and all(any(re.search(re.escape(b), c, flags) for c in said) for b in basis):
        return ("planned" if _PLAN[lang].search(line or "") else "yes"), tuple(basis)
    return "not_stated", ()


def named_line(entry: Entry, question: str, lang: str) -> tuple[str | None, tuple[str, ...]]:
    """For "is there X?": the answer's first sentence that names X, an entry keyword, in a clause of
    what the report says, and X. Only when the question asks no more than whether X is there (nothing
    is left without X and the frame words "有没有 ... 塘桥 ... 伐"), and only a
    sentence the quotes carry: its Chinese (for English, its paragraph's Chinese) shares at least
    half its character pairs with the quotes, so the bot's advice or general knowledge never says yes."""
    if script(question) != lang:
        return None, ()
    quoted = " ".join(entry.source)
    if lang == "zh":
        named = [k for k in entry.keywords.zh if len(k) >= 2 and k in question]
    else:
        named = [k for k in entry.keywords.en if len(k) >= 3 and _en_word(k, question)]
    named = [k for k in named if not any(k != other and k.lower() in other.lower() for other in named)]  # the longest
    if not named or _residue(entry, question, lang) or (lang == "zh" and any(k not in quoted for k in named)):
        return None, ()
    zh_paragraphs = entry.answer.zh.strip().splitlines()
    for n, paragraph in enumerate(entry.answer.get(lang).strip().splitlines()):
        for sentence in _SENTENCE[lang].findall(paragraph):
            sentence = _SAYS.sub("", sentence.strip())
            reported = _SENTENCE["zh"].findall(sentence) if lang == "zh" else \
                _SENTENCE["zh"].findall(zh_paragraphs[n] if n < len(zh_paragraphs) else "")
            if not any(_quoted_share(s, quoted) >= 0.5 for s in reported):
                continue
            said = " ".join(_unnegated(sentence, lang))
            if all((k in said if lang == "zh" else _en_word(k, said)) for k in named):  # every thing asked about
                return sentence, tuple(named)
    return None, ()


# Words that frame "is there X (here)?" and ask nothing more.
_FRAME = {"zh": re.compile(r"有没有|有木有|有冇|有无|街道|社区|小区|附近|塘桥|这里|这边|我们|阿拉|屋里厢|屋里|门口|边上|旁边|"
                           r"活动|地方|服务|项目|"
                           r"什么|啥|[吗伐哦呀啊吧呢么的了还也都里有个些]|[^\u4e00-\u9fff]"),
          "en": re.compile(r"\b(?:is|are|there|any|a|an|the|in|at|near|me|here|around|nearby|tangqiao|community|"
                           r"subdistrict|neighbourhood|neighborhood|for|of|some|do|does|you|they|we|have|has|this|that|"
                           r"it|to|area|my|our|local|please|hi|hello|people|services?|events?|activities|programm?e?s?)\b|"
                           r"[^a-z]", re.IGNORECASE)}


def _residue(entry: Entry, question: str, lang: str) -> bool:
    """The question says more than "is there X (here)?": anything left ("有没有围棋班" for an entry on Go
    tournaments leaves 班; "最近" asks when)."""
    keywords = sorted(getattr(entry.keywords, lang), key=len, reverse=True)
    rest = question.lower()
    for k in keywords:
        rest = re.sub(re.escape(k.lower()) + ("" if lang == "zh" else "(?:s|es)?"), " ", rest)
    rest = _FRAME[lang].sub(" ", rest)
    return bool(rest.strip())


def _quoted_share(sentence: str, quoted: str) -> float:
    """The share of a Chinese sentence's character pairs found in the quotes."""
    text = re.sub(r"[^\u4e00-\u9fff\d]", "", sentence)
    pairs = {text[i:i + 2] for i in range(len(text) - 1)}
    return sum(p in quoted for p in pairs) / len(pairs) if pairs else 0.0


def _unnegated(line: str, lang: str) -> list[str]:
    """The clauses of a line that say what the report says: not what it lacks, not general
    knowledge, not the bot's directions."""
    clauses = []
    for sentence in _SENTENCE[lang].findall(line):
        if NOT_FROM_REPORT[lang] in sentence or _ADVICE[lang].search(sentence):
            continue
        for clause in _CLAUSE[lang].findall(sentence):
            if _NEGATED[lang].search(clause):
                break  # "the report does not say A, B, the cost": what follows in the sentence is unsaid too
            clauses += [clause] if clause.strip() else []
    return clauses


def _en_word(word: str, text: str) -> bool:
    """An English keyword in a text, or its plural (job fair, job fairs)."""
    return re.search(rf"\b{re.escape(word)}(?:s|es)?\b", text, re.IGNORECASE) is not None


def _in_line(term: str, aspect: str, lang: str) -> str:
    """What the line must say for an asked term: "在峨山路吗" asks of 峨山路 (two characters and 路)."""
    return term[-3:] if aspect == "where" and lang == "zh" else term


# Yes/no questions `content check` asks of every entry, the aspect each asks, beside one per road the
# answer names ("在峨山路吗") and one per keyword ("有没有宝宝屋"): what a yes, no or plan rests on
# must be words of the entry's own quotes, and the line claims nothing they do not support.
PROBES = {
    "cost": {"zh": ("要收费吗", "是免费的吗"), "en": ("Is it free?", "Do I have to pay?")},
    "when": {"zh": ("周末开吗", "晚上开吗", "每天都开吗", "节假日开吗"),
             "en": ("Is it open at weekends?", "Is it open every day?", "Is it open in the evening?")},
    "apply": {"zh": ("能网上申请吗", "要预约吗", "可以打电话报名吗", "要带身份证吗", "可以代办吗"),
              "en": ("Can I apply online?", "Do I need an appointment?", "Can I apply by phone?")},
    "eligibility": {"zh": ("外地人能参加吗", "退休的能申请吗", "老人可以吗", "孩子可以参加吗", "残疾人可以吗"),
                    "en": ("Can non-locals join?", "Can retired people join?", "Can children join?")},
}


def verdict_problems(entry: Entry) -> list[str]:
    """What a yes, no or plan given to the probe questions would rest on that the quotes do not carry."""
    from content.claims import claim_problems

    quoted, problems = " ".join(entry.source), []
    probes = [(aspect, lang, q) for aspect, by_lang in PROBES.items() for lang, qs in by_lang.items() for q in qs]
    probes += [("where", "zh", f"在{road}吗") for road in set(re.findall(r"[\u4e00-\u9fff]{2}路", entry.answer.zh))]
    probes += [("exist", "zh", f"有没有{k}") for k in entry.keywords.zh]
    probes += [("exist", "en", f"Is there a {k}?") for k in entry.keywords.en]
    for aspect, lang, question in probes:
        if aspect == "exist":
            line, basis = named_line(entry, question, lang)
            said = "yes" if line else "not_stated"
        else:
            line = aspect_line(entry, aspect, lang)
            said, basis = verdict(aspect, question, line, lang, aspect_line(entry, aspect, "zh"))
        if said == "not_stated" or line is None:
            continue
        if lang == "zh":
            problems += [f"a yes/no question ({question!r}) would get {said!r} on {word!r}, which none of its quotes says"
                         for word in basis if word not in quoted]
        found = claim_problems(line, "", entry.source) if lang == "zh" else claim_problems("", line, entry.source)
        problems += [f"a yes/no question ({question!r}) would get {said!r} on a line that {p.split(' ', 1)[1]}" for p in found]
    return sorted(set(problems))
