"""What a resident's message means: an emergency, a complaint, an opinion, a question about an
earlier report, a greeting, a question about a content entry, or something the report does
not cover.

Signs of an emergency happening now (content/emergency.yaml) come first. The rest is learned
(content/training.py: scikit-learn's tf-idf and a linear SVM, trained on
the entries' sample questions and titles and on the labelled messages in content/examples/),
and its thresholds are chosen by cross-validation. The bot only applies it: the trained
vocabulary, idf and weights are kept as arrays, so a message costs a dictionary look-up per
feature and one small matrix product, and start-up needs no scikit-learn (1 s to import).
The arrays are cached under the content's hash (content/model_cache.py).
"""
from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from content.emergency import EmergencySigns, Kind
from content.features import Features
from content.followups import follows_up, opens_as_follow_up
from content.loader import CONTENT_DIR
from content.normalize import normalize
from content.pinyin_input import PinyinReader

KINDS = ("emergency", "complaint", "opinion", "ticket_status", "greeting", "out_of_scope")
SPEAKING_KINDS = ("complaint", "opinion", "ticket_status", "greeting")  # kinds the router acts on
EXAMPLES_DIR = CONTENT_DIR / "examples"
MAX_CANDIDATES = 3
WEAK_KIND = 75.0  # a complaint or opinion this unsure may be a follow-up to the last answer
OWN_TOPIC = 70.0  # an answer this sure is the message's own topic, whatever the last answer was
BEST = 5  # classes kept with their scores on an Understanding (staff's review shows them)
REFINES = 0.6  # a follow-up's best entry among the last answer's related ones, when this near the best of all...
AHEAD = 0.3  # ...and this far ahead of the last answer's own entry (else it is about that entry)
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Thresholds:
    """Where the model's scores (signed distances from the SVM's planes) turn into decisions."""

    emergency: float = 0.0  # the emergency score that raises the alarm
    kind: float = -0.3  # a kind (complaint, ...) ranked first is taken at this score
    answer: float = -0.2  # the best entry is answered at this score...
    lead: float = 0.2  # ...when it leads the runner-up by this much
    clarify: float = -0.6  # below this no entry fits: the honest fallback
    spread: float = 0.3  # a clarification offers the entries within this of the best


@dataclass(frozen=True)
class Understanding:
    kind: str  # "emergency" | SPEAKING_KINDS | "answer" | "clarify" | "fallback"
    topic: str | None = None
    candidates: list[str] = field(default_factory=list)
    score: float = 0.0  # 0-100, how sure
    dangers: tuple[Kind, ...] = ()  # the kinds of emergency whose signs the message shows (never CALM)
    read_as: str | None = None  # when the message was pinyin: the Chinese it was read as (reply in Chinese)
    best: tuple[tuple[str, float], ...] = ()  # the BEST best classes and their scores (understand sets it)
    elsewhere: bool = False  # a question about another district or city: not ours to answer (router: say so plainly)


def decide(scores: np.ndarray, classes: list[str], th: Thresholds, dangers: tuple[Kind, ...] = (),
           elsewhere: bool = False) -> Understanding:
    """One message's scores (and the signs of danger it shows, and whether it names another
    district or city and not ours) -> what to do. Training calibrates the thresholds with this
    very function, on cross-validated scores."""
    understood = _decide(scores, classes, th, dangers)
    if elsewhere and understood.kind in ("answer", "clarify", "fallback"):
        return Understanding("fallback", score=100.0, elsewhere=True)  # another district's services are not in our report
    return understood


def _decide(scores: np.ndarray, classes: list[str], th: Thresholds, dangers: tuple[Kind, ...]) -> Understanding:
    index = {c: i for i, c in enumerate(classes)}
    emergency = scores[index["emergency"]]
    alarm = tuple(kind for kind in dangers if kind.alarm)  # CALM alone: not now, whatever the model says
    if alarm or (not dangers and emergency >= th.emergency):
        return Understanding("emergency", score=100.0 if alarm else _percent(emergency - th.emergency), dangers=alarm)
    # below its threshold the emergency score says "not an emergency", not "none of the entries"
    order = [i for i in np.argsort(-scores, kind="stable") if i != index["emergency"]]
    best = classes[order[0]]
    if best in SPEAKING_KINDS and scores[order[0]] >= th.kind:
        return Understanding(best, score=_percent(scores[order[0]] - th.kind))
    if best == "out_of_scope":
        return Understanding("fallback", score=_percent(-scores[order[0]]))
    topics = [i for i in order if classes[i] not in KINDS][:MAX_CANDIDATES + 1]
    top = scores[topics[0]]
    if best == classes[topics[0]] and top >= th.answer and top - scores[topics[1]] >= th.lead:
        return Understanding("answer", classes[topics[0]], [classes[topics[0]]], _percent(top - th.answer))
    if top >= th.clarify:
        near = [classes[i] for i in topics[:MAX_CANDIDATES] if scores[i] >= top - th.spread]
        return Understanding("clarify", None, near, _percent(top - th.clarify))
    return Understanding("fallback", score=_percent(th.clarify - top))


def _percent(margin: float) -> float:
    return round(100 / (1 + math.exp(-3 * margin)), 1)


class Model:
    """The trained model as arrays: `scores(text)` gives one score per class, as the SVM would."""

    def __init__(self, features: Features, signs: EmergencySigns, classes: list[str], vocabulary: list[str],
                 idf: np.ndarray, weights: np.ndarray, intercept: np.ndarray, thresholds: Thresholds):
        self.features, self.signs, self.classes, self.thresholds = features, signs, list(classes), thresholds
        self.vocabulary = list(vocabulary)
        self._column = {term: i for i, term in enumerate(self.vocabulary)}
        self.idf, self.weights, self.intercept = idf, weights, intercept  # weights: features x classes
        self.topics = [c for c in self.classes if c not in KINDS]
        self.pinyin: PinyinReader | None = None  # reads pinyin as Chinese (content/model_cache.py sets it)
        self.names: dict[str, tuple[str, ...]] = {}  # entry -> its keywords and titles, normalised (likewise)
        self.related: dict[str, tuple[str, ...]] = {}  # entry -> the entries it names as related (likewise)

    def scores(self, text: str) -> np.ndarray:
        counts: dict[int, int] = {}
        for term in self.features(text):
            if (col := self._column.get(term)) is not None:
                counts[col] = counts.get(col, 0) + 1
        if not counts:
            return self.intercept.copy()
        cols = np.fromiter(counts, dtype=np.intp, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        values = (1.0 + np.log(tf)) * self.idf[cols]  # sublinear tf-idf, l2-normalised, as TfidfVectorizer
        values /= np.sqrt(values @ values)
        return values @ self.weights[cols] + self.intercept

    def understand(self, text: str, context: str | None = None) -> Understanding:
        """What `text` means. Pinyin is read as the Chinese it spells first, so that the signs of
        an emergency see the Chinese too.

        `context`: the entry id the resident was last answered about, passed by the router only
        while a follow-up may refer to it. A context-only follow-up ("那在哪里办?", "要带什么材料?",
        "周末开吗", "what about people over 80?") is then answered on that entry (kind "answer",
        topic=context). A follow-up naming a side of the subject ("有培训吗" after the job fairs,
        "那托育呢") is answered on the entry it names, or on the one of the last answer's related
        entries it is nearly as close to as to any; a message with a topic of its own ignores the context."""
        read_as = self.pinyin.read(text) if self.pinyin is not None else None
        said = read_as or text
        scores, elsewhere = self.scores(said), self.features.elsewhere(normalize(said))
        understood = decide(scores, self.classes, self.thresholds, tuple(self.signs.kinds_in(said)), elsewhere)
        if not elsewhere and context in self.topics and self._may_follow(said, understood):
            if (refined := self._refined(said, scores, context, understood)) is not None:
                understood = self._answer_on(refined, scores)
            elif self._follows_up(said, understood):
                understood = self._answer_on(context, scores)
        # kept for staff's review of the turn (handlers/review.py), which so need not score it again
        best = tuple((self.classes[i], round(float(scores[i]), 3)) for i in np.argsort(-scores, kind="stable")[:BEST])
        return replace(understood, read_as=read_as, best=best)

    def _answer_on(self, topic: str, scores: np.ndarray) -> Understanding:
        margin = scores[self.classes.index(topic)] - self.thresholds.clarify
        return Understanding("answer", topic, [topic], _percent(max(margin, 0.0)))

    @staticmethod
    def _may_follow(text: str, understood: Understanding) -> bool:
        """Shaped as a follow-up, and not an emergency or a greeting; a complaint or an opinion
        only when the model was barely sure of it ("what about people over 80?" is no complaint)."""
        if understood.kind in ("complaint", "opinion"):
            return understood.score < WEAK_KIND and opens_as_follow_up(text) and follows_up(text)
        return understood.kind in ("answer", "clarify", "fallback") and follows_up(text)

    def _refined(self, text: str, scores: np.ndarray, context: str, understood: Understanding) -> str | None:
        """The entry a follow-up turns to: one it names by a keyword ("那托育呢"), else the last
        answer's related entry it is closest to, when nearly as close as to any entry ("有培训吗"
        after the job fairs: training, not first aid); None when it stays on the context."""
        column = {t: scores[self.classes.index(t)] for t in self.topics}
        lowered = normalize(text)
        named = [t for t in self.topics if any(n in lowered for n in self.names.get(t, ()))]
        own = understood.kind == "answer" and understood.score >= OWN_TOPIC  # "the summer childcare class": its own entry
        if named and context not in named and not own:
            return max(named, key=column.__getitem__)
        related = [t for t in self.related.get(context, ()) if t in column]
        if not related:
            return None
        near = max(related, key=column.__getitem__)
        best = max(column.values())
        if column[near] - column[context] >= AHEAD and column[near] >= self.thresholds.clarify and best - column[near] <= REFINES:
            return near
        return None

    def _follows_up(self, text: str, understood: Understanding) -> bool:
        """`text` only makes sense with the answer before it: naming no entry of its own, with no
        confident topic of its own."""
        if understood.kind == "answer" and understood.score >= OWN_TOPIC:
            return False
        return not self._names_an_entry(text, understood)

    def _names_an_entry(self, text: str, understood: Understanding) -> bool:
        """`text` names (a keyword or title of) an entry the model found in it."""
        text = normalize(text)
        return any(name in text for topic in understood.candidates for name in self.names.get(topic, ()))

    def ranked_topics(self, text: str) -> list[str]:
        """Entries from the most to the least likely (for an opinion's category)."""
        scores = self.scores(text)
        return [self.classes[i] for i in np.argsort(-scores, kind="stable") if self.classes[i] not in KINDS]

    # -- the cache ------------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        # the vocabulary as one string, the weights in float32 (as trained): read at every start
        np.savez(tmp, classes=np.array(self.classes), vocabulary=np.array("\n".join(self.vocabulary)), idf=self.idf,
                 weights=self.weights, intercept=self.intercept,
                 thresholds=json.dumps(asdict(self.thresholds)))
        os.replace(tmp, path)  # another process starting at the same time reads a whole file or none

    @classmethod
    def load(cls, path: Path, features: Features, signs: EmergencySigns) -> Model:
        with np.load(path) as data:
            return cls(features, signs, data["classes"].tolist(), str(data["vocabulary"]).split("\n"), data["idf"],
                       data["weights"], data["intercept"], Thresholds(**json.loads(str(data["thresholds"]))))
