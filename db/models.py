"""The tables. Times are stored in UTC."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Column, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from db.clock import utcnow


class Resident(SQLModel, table=True):
    """One person on one channel, and their explicit language choice (/lang). What the bot is
    waiting for from them is their Conversation."""

    __table_args__ = (UniqueConstraint("channel", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    user_id: str = Field(max_length=64)
    language: str | None = Field(default=None, max_length=2)
    created_at: datetime = Field(default_factory=utcnow)


class Feedback(SQLModel, table=True):
    """A "helpful / not helpful" click on an answer."""

    id: int | None = Field(default=None, primary_key=True)
    resident_id: int = Field(foreign_key="resident.id", index=True)
    entry_id: str = Field(index=True, max_length=64)
    helpful: bool
    created_at: datetime = Field(default_factory=utcnow)


class Opinion(SQLModel, table=True):
    """A suggestion or a message a resident left for the office (not a ticket)."""

    # the console's opinions page: one category's newest in a range, without a sort
    __table_args__ = (Index("ix_opinion_category_created_at", "category", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    resident_id: int = Field(foreign_key="resident.id", index=True)
    channel: str = Field(default="", max_length=16)
    category: str = Field(default="other", max_length=32, index=True)
    text: str = Field(max_length=4096)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    # staff marked its theme in the console: None (unread), "read" or "answered"
    handled: str | None = Field(default=None, max_length=16)
    handled_by: str | None = Field(default=None, max_length=64)  # "web:<account>"
    handled_at: datetime | None = Field(default=None)


# -- tickets ---------------------------------------------------------------------------------

class Ticket(SQLModel, table=True):
    """A resident's report of a problem, from intake to closing.

    Life cycle (its statuses and moves): handlers/rules/lifecycle.py; every change is a
    TicketEvent. Times are UTC; limits count working days.
    """

    __table_args__ = (  # the staff console's queue (db/tickets.py queue, stats) at 100,000 tickets
        Index("ix_ticket_resolution_due_id", "resolution_due", "id"),  # the queue's order: read in order, no sort
        Index("ix_ticket_category_resolution_due", "category", "resolution_due"),  # one category, in order
        Index("ix_ticket_status_resolution_due", "status", "resolution_due"),  # the overdue count, from the index
        Index("ix_ticket_status_category", "status", "category"),  # counts by status and category, from the index
        Index("ix_ticket_assignee", "assignee"),  # "assigned to me"
        # the dashboard's workload per assignee (db/workload.py): the open ones' from the index alone, and
        # those first answered this week
        Index("ix_ticket_workload", "status", "assignee", "first_response_at", "response_due", "resolution_due"),
        Index("ix_ticket_first_response_at", "first_response_at"),
        # the places of the open tickets, and one place's: not (status, area), which SQLite without
        # ANALYZE figures would take for the open queue's order over (status, resolution_due)
        Index("ix_ticket_area_status", "area", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(unique=True, max_length=16)  # TQ-2611-0042
    source_key: str = Field(unique=True, max_length=128)  # the confirming update: no ticket twice
    resident_id: int = Field(foreign_key="resident.id", index=True)
    channel: str = Field(max_length=16)
    chat_id: str = Field(max_length=64)  # where the resident's replies go
    category: str = Field(max_length=32, index=True)
    text: str = Field(max_length=4096)
    place: str = Field(default="", max_length=512)
    area: str = Field(default="", max_length=64)  # the lane, estate or road of `place` (handlers/rules/places.py area_of)
    latitude: float | None = None
    longitude: float | None = None
    photos: str = Field(default="[]", max_length=4096)  # JSON list of platform file ids
    phone: str | None = Field(default=None, max_length=32)  # only with the resident's consent
    status: str = Field(default="new", max_length=16, index=True)
    assignee: str | None = Field(default=None, max_length=64)
    duplicate_of: int | None = Field(default=None, foreign_key="ticket.id")
    awaiting_resident: bool = False  # staff asked something: the resident's next message joins the ticket
    resident_blocked: bool = False  # the resident blocked the bot: nothing more reaches them
    undelivered: bool = False  # a message to the resident was not delivered (WeChat's 48 hours, a failure): not "answered"
    spoken: bool = False  # the report's text came from speech recognition (WeChat voice): it may read oddly
    card_message_id: str | None = Field(default=None, max_length=32)
    thread_id: str | None = Field(default=None, max_length=32)  # forum topic in the moderation chat
    rating: int | None = None
    rating_comment: str | None = Field(default=None, max_length=1024)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    response_due: datetime
    resolution_due: datetime


class TicketEvent(SQLModel, table=True):
    """One entry of a ticket's history: who, when, what changed, and the note."""

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    actor: str = Field(max_length=64)  # "resident", "staff:<id> <name>", "system"
    kind: str = Field(max_length=16)  # created, status, note, assign, category, message, reply, rating, duplicate
    from_status: str | None = Field(default=None, max_length=16)
    to_status: str | None = Field(default=None, max_length=16)
    note: str = Field(default="", max_length=4096)
    public: bool = True  # shown to the resident in their ticket's history


class TicketCounter(SQLModel, table=True):
    """The last ticket number of each month, so numbers are short and never reused."""

    month: str = Field(primary_key=True, max_length=4)  # "2611"
    last: int = 0


class Conversation(SQLModel, table=True):
    """Where one person is in their conversation with the bot on one channel and chat: the dialog
    and step they are in (handlers/dialogs.py declares them all), what they have filled in so far,
    the topic they were last answered about and when (for follow-ups, and with `answered` for
    staff's review: a 👎 on that answer, or a rephrasing of it within a minute, becomes a
    ReviewItem), and their language. A report left half-way stays here as a draft; staff have
    their own (the moderation chat's)."""

    channel: str = Field(primary_key=True, max_length=16)
    chat_id: str = Field(primary_key=True, max_length=64)
    user_id: str = Field(primary_key=True, max_length=64)
    dialog: str | None = Field(default=None, max_length=16)  # a name in handlers/dialogs.py DIALOGS; None: none
    step: str | None = Field(default=None, max_length=16)
    filled: str = Field(default="{}", max_length=8192)  # JSON: the dialog's answers so far (and a parked draft)
    topic: str | None = Field(default=None, max_length=64)  # the entry last answered
    topic_at: datetime | None = None
    language: str | None = Field(default=None, max_length=2)  # the language they write in
    updated_at: datetime = Field(default_factory=utcnow, index=True)
    # JSON of the last answer for review (handlers/review.py): the question with numbers erased, its
    # language, the model's best scores, the answer's score and reply; None after another question
    # or emergency, and after a day (bot/jobs.py)
    answered: str | None = Field(default=None, max_length=8192)


class ProcessedUpdate(SQLModel, table=True):
    """Updates already handled: a platform's repeated delivery is recognised and skipped."""

    key: str = Field(primary_key=True, max_length=128)
    at: datetime = Field(default_factory=utcnow, index=True)


class InboxUpdate(SQLModel, table=True):
    """An update received and acknowledged (or about to be) but not yet handled to the end: it
    is written before Telegram is told (the webhook's 200, the next getUpdates offset) and
    deleted once handled, so one a process died with is handled again (db/inbox.py)."""

    key: str = Field(primary_key=True, max_length=128)  # as ProcessedUpdate's: "telegram:u:<update id>"
    payload: str  # the update as Telegram sent it (JSON)
    received_at: datetime = Field(default_factory=utcnow)
    claimed_by: str = Field(max_length=32)  # the process handling it
    claimed_until: datetime = Field(index=True)  # after this, another process may take it over
    attempts: int = 0  # times it was taken over after a process died with it


class OutboxFile(SQLModel, table=True):
    """A file to send (the weekly export's), kept in the database rather than on the disk of the
    host that made it: any process sharing the database can send it."""

    id: int | None = Field(default=None, primary_key=True)
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, index=True)


class OutboxMessage(SQLModel, table=True):
    """A message to deliver: written in the same transaction as what caused it, sent at most once
    by the outbox worker (retried while the platform has not taken it; never after a send a crash
    interrupted: that row is "unsure")."""

    __table_args__ = (Index("ix_outboxmessage_purpose_created_at", "purpose", "created_at"),)  # the dashboard's alerts

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    chat_id: str = Field(max_length=64, index=True)
    # to the moderation chat: card, photo, alert (also undelivered and unsure messages), chase, export;
    # to residents: reply (staff's, or a WeChat answer too slow for its callback), reply-later (an answer
    # Telegram did not take at once), status, notice (events); followup: both ways
    purpose: str = Field(max_length=16)
    ticket_id: int | None = Field(default=None, foreign_key="ticket.id", index=True)
    text: str = Field(default="", max_length=8192)
    buttons: str = Field(default="[]", max_length=4096)  # JSON [[[label, data], ...], ...]
    photo: str | None = Field(default=None, max_length=256)  # a platform file id
    document: str | None = Field(default=None, max_length=512)  # the file's name (the weekly export)
    document_id: int | None = Field(default=None, foreign_key="outboxfile.id")  # its content, in the database
    reply_to: str | None = Field(default=None, max_length=32)
    # db/delivery_states.py: pending -> sending -> sent | pending (a retry) | failed | held | unsure;
    # held -> pending (they wrote); pending or held -> cancelled (taken back, last_error says why)
    state: str = Field(default="pending", max_length=16, index=True)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow)
    last_error: str | None = Field(default=None, max_length=512)
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None
    sent_message_id: str | None = Field(default=None, max_length=32)
    # A worker's lease (db.outbox.claim): it sends the row until then; a crashed worker's rows come back.
    claimed_by: str | None = Field(default=None, max_length=32)
    claimed_until: datetime | None = None


class RelayMessage(SQLModel, table=True):
    """A message of ours in the moderation chat that belongs to a ticket: a staff reply to
    it goes to that ticket's resident, even after a restart."""

    chat_id: str = Field(primary_key=True, max_length=64)
    message_id: str = Field(primary_key=True, max_length=32)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)


class Chase(SQLModel, table=True):
    """A time-limit reminder (催办) posted for a ticket: once per ticket and stage."""

    ticket_id: int = Field(foreign_key="ticket.id", primary_key=True)
    stage: str = Field(primary_key=True, max_length=24)  # response_soon, response_late, resolution_soon, ...
    at: datetime = Field(default_factory=utcnow)


class Secret(SQLModel, table=True):
    """A per-installation secret, made on first use: the export's pseudonym key. Never exported."""

    name: str = Field(primary_key=True, max_length=32)
    value: str = Field(max_length=128)
    created_at: datetime = Field(default_factory=utcnow)


class WeChatChoices(SQLModel, table=True):
    """The numbered choices a WeChat resident was shown (WeChat has no buttons), per context:
    those of the last reply to them, and those of a notice (the rating question) that came
    after it. Kept here, not in memory, so any process can read the digit they answer with."""

    openid: str = Field(primary_key=True, max_length=64)
    reply: str = "[]"  # JSON [[label, data], ...]
    notice: str | None = None  # the same; None when no notice came after the last reply
    at: datetime = Field(default_factory=utcnow, index=True)


class WeChatNonce(SQLModel, table=True):
    """The (timestamp, nonce) of each WeChat callback and a digest of its body: the same pair
    again is WeChat's retry when the body is the same, a replayed signature otherwise."""

    timestamp: int = Field(primary_key=True, sa_type=BigInteger)
    nonce: str = Field(primary_key=True, max_length=64)
    body: str = Field(max_length=64)  # SHA-256, hex


class WeChatReply(SQLModel, table=True):
    """The reply to a WeChat message (by openid and MsgId) and how it went out: any server that
    WeChat's retry reaches answers it alike (passively again, or "success" when the API sent it)."""

    key: str = Field(primary_key=True, max_length=128)
    chunks: str = "[]"  # JSON list of the reply's WeChat-sized pieces
    delivery: str | None = Field(default=None, max_length=8)  # passive, api, none; None: not decided yet
    at: datetime = Field(default_factory=utcnow, index=True)


# -- the staff web console (bot/staff_console.py) --------------------------------------------------


class StaffAccount(SQLModel, table=True):
    """A member of staff who signs in to the web console (`python -m bot staff add`)."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=64)
    password_hash: str = Field(max_length=256)  # argon2id, with its salt and parameters
    is_admin: bool = False
    disabled: bool = False
    telegram_user_id: str | None = Field(default=None, max_length=32)  # the same person in the moderation chat
    team: str | None = Field(default=None, max_length=64)  # 科室: the console's assignee list groups by it
    language: str | None = Field(default=None, max_length=8)  # the console's language for this account (zh, en)
    created_at: datetime = Field(default_factory=utcnow)


class StaffSession(SQLModel, table=True):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 is stored, so a
    copy of the database opens no session."""

    token_hash: str = Field(primary_key=True, max_length=64)
    account_id: int = Field(foreign_key="staffaccount.id", index=True)
    csrf: str = Field(max_length=64)  # every POST of this session carries it
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(index=True)


class LoginThrottle(SQLModel, table=True):
    """Console logins under way or failed, per key ("pair:<name>@<address>", "address:<ip>"), in a
    window that starts with its first: one row updated in place, so concurrent logins each get
    their own count (db/accounts.py take_attempt)."""

    key: str = Field(primary_key=True, max_length=192)
    since: datetime
    count: int = 0


# -- events, notices and subscriptions (db/events.py) ------------------------------------------


class Event(SQLModel, table=True):
    """Something the office announces (a job fair, a market, a service window), shown and sent
    exactly as staff entered it. Life cycle: draft -> published -> withdrawn."""

    id: int | None = Field(default=None, primary_key=True)
    title_zh: str = Field(default="", max_length=256)
    title_en: str = Field(default="", max_length=256)
    topic: str = Field(default="", max_length=64, index=True)  # a content entry id
    start: datetime | None = None
    end: datetime | None = None
    place: str = Field(default="", max_length=256)
    details: str = Field(default="", max_length=2048)
    how: str = Field(default="", max_length=1024)  # how to take part
    show_until: datetime | None = None  # after this it is not shown (default: its end, else its start)
    status: str = Field(default="draft", max_length=16, index=True)
    draft_step: str | None = Field(default=None, max_length=16)  # the moderation chat's guided dialog: what it asks next
    created_by: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    published_at: datetime | None = Field(default=None, index=True)


class Subscription(SQLModel, table=True):
    """A resident wants the office's notices of one area (content/areas: jobs, culture, ...)."""

    __table_args__ = (UniqueConstraint("resident_id", "topic"),)

    id: int | None = Field(default=None, primary_key=True)
    resident_id: int = Field(foreign_key="resident.id", index=True, ondelete="CASCADE")
    topic: str = Field(max_length=64, index=True)  # an area id
    created_at: datetime = Field(default_factory=utcnow)
    stopped_at: datetime | None = None
    blocked_at: datetime | None = None  # a notice was refused: the resident blocked the bot (cleared when they write)
    last_message_at: datetime | None = None  # no longer used (a notice to a silent WeChat resident is held, not skipped)


class Notice(SQLModel, table=True):
    """One event's notice to one resident: at most one, ever (the primary key)."""

    event_id: int = Field(foreign_key="event.id", primary_key=True)
    resident_id: int = Field(foreign_key="resident.id", primary_key=True, ondelete="CASCADE")
    outbox_id: int | None = Field(default=None, foreign_key="outboxmessage.id", index=True)
    outcome: str = Field(default="queued", max_length=16)  # queued, blocked (skipped_48h: older versions)
    created_at: datetime = Field(default_factory=utcnow)


# -- learning from use (handlers/review.py, db/review.py) ---------------------------------------


class ReviewItem(SQLModel, table=True):
    """A message the bot may have misunderstood (a fallback, a clarification, a 👎, an answer the
    resident rephrased, an emergency alert), kept for staff to label: its text with phone and ID
    numbers erased before it is written, what the bot decided and its scores. An approved label is
    an example the model learns from (its `batch`: the ModelVersion it was trained into)."""

    __table_args__ = (Index("ix_reviewitem_status_created_at", "status", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    resident_id: int | None = Field(default=None, foreign_key="resident.id", index=True)
    channel: str = Field(default="", max_length=16)
    reason: str = Field(max_length=16)  # fallback, clarify, thumbs_down, rephrased, emergency
    text: str = Field(max_length=4096)
    language: str = Field(default="zh", max_length=2)
    decision: str = Field(default="", max_length=16)  # the reply's kind: fallback, clarify, answer, emergency
    topic: str | None = Field(default=None, max_length=64)  # the entry answered
    candidates: str = Field(default="[]", max_length=1024)  # JSON: the entries offered
    scores: str = Field(default="[]", max_length=1024)  # JSON [[class, score], ...]: the model's best five
    score: float = 0.0
    reply: str = Field(default="", max_length=2048)  # the bot's reply, as plain text
    picked: str | None = Field(default=None, max_length=64)  # the entry chosen after a clarification
    followup: str = Field(default="", max_length=4096)  # what the resident wrote next (a rephrasing)
    model_version: int | None = None  # the ModelVersion that decided (None: the files' own model)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    status: str = Field(default="new", max_length=16)  # new, labelled, approved, dismissed
    label: str | None = Field(default=None, max_length=64)  # an entry id, a kind, or "not_in_report"
    labelled_by: str | None = Field(default=None, max_length=64)
    labelled_at: datetime | None = None
    approved_by: str | None = Field(default=None, max_length=64)
    approved_at: datetime | None = None
    batch: int | None = Field(default=None, index=True)  # the ModelVersion its approval made


class ModelVersion(SQLModel, table=True):
    """A model trained with staff's approved examples. Every process polls the newest `active`
    one and swaps it in (bot/retrain.py); a rollback marks it `rolled_back`, so the one before
    it is current again. Life cycle: training -> active | held | failed; active -> rolled_back."""

    id: int | None = Field(default=None, primary_key=True)
    state: str = Field(default="training", max_length=16, index=True)
    model_hash: str = Field(default="", max_length=64)  # its file in the model cache (content/model_cache.py)
    examples: int = 0  # approved examples it learned from
    confirmed: bool = False  # an administrator confirmed it although it lowers the cross-validated score
    report: str = Field(default="", max_length=8192)  # what the new examples changed, per label
    created_by: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    ready_at: datetime | None = None


# -- emergency alerts (db/alerts.py) -----------------------------------------------------------


class Alert(SQLModel, table=True):
    """An emergency a resident wrote about (handlers/emergency.py), recorded whatever the channels,
    for the office to see in the console until someone acknowledges it."""

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    kinds: str = Field(default="", max_length=128)  # the kinds of content/emergency.yaml, comma-separated
    text: str = Field(default="", max_length=1024)  # what the resident wrote, phone and ID numbers masked
    created_at: datetime = Field(default_factory=utcnow, index=True)
    acknowledged_by: str | None = Field(default=None, max_length=64)  # "web:<account>"
    acknowledged_at: datetime | None = Field(default=None, index=True)


# -- the console's change feed (db/changes.py) -------------------------------------------------


class LiveCounter(SQLModel, table=True):
    """One row: the number of the last change. A transaction that changes a ticket or an alert
    raises it just before committing and holds its row lock until then, so on PostgreSQL too the
    changes commit in the order of their numbers: a reader that has seen N never misses a change
    numbered below N that commits later."""

    id: int = Field(default=1, primary_key=True)
    last: int = Field(default=0, sa_type=BigInteger)


class LiveChange(SQLModel, table=True):
    """Something the open console pages should show without a reload: a ticket event (a new
    ticket, a resident's message, a reply, a status change, an assignment...), an emergency alert
    or its acknowledgement. No resident text: the console reads the ticket or the alert itself."""

    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    at: datetime = Field(default_factory=utcnow, index=True)
    kind: str = Field(max_length=16)  # a ticket event's kind, "alert" or "acknowledged"
    ticket_id: int | None = Field(default=None, index=True)
    alert_id: int | None = None
    actor: str = Field(default="", max_length=64)  # as in TicketEvent: "resident", "web:<account>", "staff:<id> <name>"
    assignee: str | None = Field(default=None, max_length=64)  # the account an "assign" names


# -- the console's management by administrators (db/admin.py) ------------------------------------


class AdminChange(SQLModel, table=True):
    """One change an administrator made in the console: who, when, to what, and what."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    actor: str = Field(max_length=64)  # web:<account>
    kind: str = Field(max_length=16, index=True)  # account, committee, canned
    target: str = Field(max_length=128)  # the account, committee or canned reply's name
    what: str = Field(max_length=512)  # one line: created, disabled, team 城管科 -> 市容科, ...


class Committee(SQLModel, table=True):
    """A neighbourhood committee (居委会) and the places it looks after, as the office enters them;
    seeded from COMMITTEES_FILE by the first change made in the console (handlers/committees.py)."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=64)
    places: str = Field(default="[]", max_length=4096)  # JSON list: lanes, estates or roads, as areas are written
    phone: str | None = Field(default=None, max_length=32)  # only as the office gives it
    updated_at: datetime = Field(default_factory=utcnow)


class CannedReply(SQLModel, table=True):
    """An office's edit of a canned reply: a new one, a changed text or title of one of
    content/templates/canned/ (the seed), or its removal (`deleted`)."""

    name: str = Field(primary_key=True, max_length=64)
    title_zh: str = Field(default="", max_length=64)
    title_en: str = Field(default="", max_length=64)
    text: str = Field(default="", max_length=2000)
    deleted: bool = False
    updated_at: datetime = Field(default_factory=utcnow)


class ExportRecord(SQLModel, table=True):
    """An export made (weekly, from the console or the command line): its days and files, so every
    server's console lists the same exports and serves only files the bot made."""

    id: int | None = Field(default=None, primary_key=True)
    start: date
    end: date
    files: str = Field(default="[]", max_length=4096)  # JSON list of [name, bytes]
    made_at: datetime = Field(default_factory=utcnow, index=True)
    made_by: str = Field(default="", max_length=64)  # web:<account>, scheduled, command line


class WeekFigures(SQLModel, table=True):
    """A finished range's dashboard figures (bot/export/figures.py finished_figures), kept so that a
    server's first dashboard reads them instead of computing them again. Valid while nothing written
    after `mark` (db/export_queries.py last_change, as JSON) touches a ticket or opinion of the range,
    and until `turns`: the moment one of its open tickets passes a deadline (None: none will)."""

    start: date = Field(primary_key=True)
    end: date = Field(primary_key=True)
    figures: str = Field(max_length=65536)  # JSON: the counts and time totals, no titles (made on reading)
    mark: str = Field(max_length=256)
    turns: datetime | None = None
    computed_at: datetime = Field(default_factory=utcnow)
