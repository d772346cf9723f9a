"""Class rooms: a teacher opens a room (a short code shown on the projector),
students join it with the code and a nickname, the teacher asks the page's
question, students guess, the teacher reveals the model's answer beside the
class's guesses.

A room is a small JSON-able dict behind one store interface (`RoomStore`):
`MemoryStore` in this process (one process serves a class, the default) or
`RedisStore`, shared by the replicas of a school's deployment. Nothing but a
nickname and the guesses is kept, and a room expires when idle. No streamlit
here: the widgets are in ui/classroom.py."""
from __future__ import annotations

import copy
import hashlib
import json
import secrets
import threading
import time
import unicodedata
from collections import deque

from llm_core.model.errors import InputError

# 31 characters with no look-alikes (no 0/O, 1/I/L): 31**6 ≈ 8.9e8 codes. With at
# most MAX_ROOMS open and JOINS_PER_MINUTE tries per client, guessing a code
# takes on average more than 10**4 years of tries.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 6
ROOM_TTL_S = 3 * 3600          # an idle room is gone after a long lesson
EMPTY_ROOM_TTL_S = 15 * 60     # … one nobody joined, sooner: opening rooms cannot fill the server
MAX_ROOMS = 500
MAX_MEMBERS = 200
JOINS_PER_MINUTE = 8           # per browser session
# per network address: a whole school sits behind one address, so this only stops
# a flood of new sessions, not a class of 30 joining at once
JOINS_PER_ADDRESS_MINUTE = 240
NICKNAME_CHARS = 24
GUESS_CHARS = 40


def _clean(text: str, limit: int) -> str:
    """One line of printable text (no control or format characters), cut to `limit`."""
    text = "".join(ch if unicodedata.category(ch)[0] not in "CZ" or ch == " " else " "
                   for ch in str(text))
    return " ".join(text.split())[:limit]


def normalize_code(code: str) -> str:
    return "".join(ch for ch in str(code).upper() if ch in ALPHABET)[:CODE_LENGTH]


def normalize_guess(guess: str) -> str:
    """Guesses are counted together when they differ only in case or spaces
    ("Paris", " paris"); an answer shown as a piece and its completion
    ("‹e8 af›→语") is compared by the character it completes to."""
    return _clean(str(guess).rsplit("→", 1)[-1], GUESS_CHARS).casefold()


def question_id(*parts) -> str:
    """A stable id for one question (page, text, settings), so a changed text is a new question."""
    return hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=6).hexdigest()


def new_room(now: float) -> dict:
    return {"created": now, "touched": now, "teacher": secrets.token_urlsafe(16),
            "members": {}, "question": None, "guesses": {}, "answer": None}


def room_ttl(room: dict) -> int:
    return ROOM_TTL_S if room["members"] else EMPTY_ROOM_TTL_S


def room_view(room: dict) -> dict:
    """What anybody in the room may see: never the teacher's key, and the answer
    only after Reveal."""
    counts: dict[str, int] = {}
    for guess in room["guesses"].values():
        key = normalize_guess(guess)
        counts[key] = counts.get(key, 0) + 1
    return {"question": room["question"], "members": len(room["members"]),
            "answered": len(room["guesses"]), "counts": counts, "answer": room["answer"]}


class RoomError(InputError):
    pass


class RateLimiter:
    """At most `limit` attempts per client in any `window` seconds."""

    def __init__(self, limit: int = JOINS_PER_MINUTE, window: float = 60.0):
        self.limit, self.window = limit, window
        self._seen: dict[str, deque] = {}
        self._lock = threading.Lock()

    def allow(self, client: str, now: float) -> bool:
        with self._lock:
            if len(self._seen) > 10_000:  # bounded: forget clients idle for a window
                self._seen = {k: v for k, v in self._seen.items()
                              if v and now - v[-1] < self.window}
            times = self._seen.setdefault(client, deque())
            while times and now - times[0] >= self.window:
                times.popleft()
            if len(times) >= self.limit:
                return False
            times.append(now)
            return True


class RoomStore:
    """What the classroom does with rooms, over four primitives a store
    implements atomically: `_get`, `_update` (read, change, write back as one
    step), `_create` (only if the code is free) and `_delete`; plus `_count` and
    `_allow_join`. Every method returns plain data, so concurrent sessions never
    share a mutable object."""

    def open_room(self, client: str | None = None, address: str = "") -> tuple[str, str]:
        """A new room: (code, teacher key). The key proves who may ask and reveal.
        From a session (`client`), opening counts against the same per-session and
        per-address limits as joining."""
        if client is not None and not self._allow_join(client, address):
            raise RoomError("Too many tries; wait a minute.", "room_rate_limited")
        if self._count() >= MAX_ROOMS:
            raise RoomError("Too many class rooms are open on this server.", "room_full")
        room = new_room(self._clock())
        while True:
            code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
            if self._create(code, room):
                return code, room["teacher"]

    def join(self, code: str, nickname: str, client: str, address: str = "") -> str:
        """Join with a code: a student id (random, known only to that session).
        Tries are limited per client (session) and per network address."""
        nickname = _clean(nickname, NICKNAME_CHARS)
        if not nickname:
            raise RoomError("Type a nickname to join.", "room_nickname")
        if not self._allow_join(client, address):
            raise RoomError("Too many tries to join; wait a minute.", "room_rate_limited")
        code = normalize_code(code)
        student = secrets.token_urlsafe(12)

        def add(room):
            if len(room["members"]) >= MAX_MEMBERS:
                raise RoomError("This class room is full.", "room_full")
            room["members"][student] = nickname

        if len(code) != CODE_LENGTH or not self._update(code, add):
            raise RoomError("No class room has this code.", "room_unknown")
        return student

    def rejoin(self, code: str, student: str) -> bool:
        """True when `student` is still a member of the room (a browser that lost
        its server comes back with the id in its link)."""
        room = self._get(normalize_code(code))
        return room is not None and student in room["members"]

    def ask(self, code: str, teacher: str, question: dict) -> None:
        """Put a question to the room (its guesses and answer start empty). Asking
        the question already on the board keeps its guesses."""
        def put(room):
            self._check_teacher(room, teacher)
            if (room["question"] or {}).get("id") != question["id"]:
                room["question"], room["guesses"], room["answer"] = dict(question), {}, None

        self._owned_update(code, put)

    def guess(self, code: str, student: str, qid: str, guess: str) -> None:
        guess = _clean(guess, GUESS_CHARS)
        if not guess:
            raise RoomError("Type or pick a guess first.", "room_empty_guess")

        def put(room):
            if student not in room["members"]:
                raise RoomError("This class room has closed.", "room_closed")
            if (room["question"] or {}).get("id") != qid or room["answer"] is not None:
                raise RoomError("The teacher has moved on to another question.", "room_moved_on")
            room["guesses"][student] = guess

        if not self._update(code, put):
            raise RoomError("This class room has closed.", "room_closed")

    def reveal(self, code: str, teacher: str, answer: str) -> None:
        def put(room):
            self._check_teacher(room, teacher)
            room["answer"] = str(answer)

        self._owned_update(code, put)

    def close(self, code: str, teacher: str) -> None:
        room = self._get(code)
        if room is None:
            raise RoomError("This class room has closed.", "room_closed")
        self._check_teacher(room, teacher)
        self._delete(code)

    def view(self, code: str, student: str | None = None) -> dict | None:
        """The room as its members see it (None once it is gone); with `student`,
        also that student's own guess and nickname."""
        room = self._get(code)
        if room is None or (student is not None and student not in room["members"]):
            return None
        out = room_view(room)
        if student is not None:
            out["mine"] = room["guesses"].get(student)
            out["nickname"] = room["members"][student]
        return out

    @staticmethod
    def _check_teacher(room: dict, teacher: str) -> None:
        if not secrets.compare_digest(room["teacher"], str(teacher)):
            raise RoomError("This class room has closed.", "room_closed")

    def _owned_update(self, code: str, change) -> None:
        if not self._update(code, change):
            raise RoomError("This class room has closed.", "room_closed")


class MemoryStore(RoomStore):
    """Rooms in this process (one process serves a class: the default)."""

    def __init__(self, clock=time.time):
        self._rooms: dict[str, dict] = {}
        self._lock = threading.Lock()
        self._clock = clock
        self.joins = RateLimiter()
        self.joins_per_address = RateLimiter(JOINS_PER_ADDRESS_MINUTE)

    def _live(self, code: str) -> dict | None:
        room = self._rooms.get(code)
        if room is not None and self._clock() - room["touched"] > room_ttl(room):
            del self._rooms[code]
            return None
        return room

    def _get(self, code: str) -> dict | None:
        with self._lock:
            room = self._live(code)
            return copy.deepcopy(room) if room is not None else None

    def _update(self, code: str, change) -> bool:
        with self._lock:
            room = self._live(code)
            if room is None:
                return False
            work = copy.deepcopy(room)
            change(work)                  # may raise: then nothing is written
            work["touched"] = self._clock()
            self._rooms[code] = work
            return True

    def _create(self, code: str, room: dict) -> bool:
        with self._lock:
            if self._live(code) is not None:
                return False
            self._rooms[code] = dict(room, touched=self._clock())
            return True

    def _delete(self, code: str) -> None:
        with self._lock:
            self._rooms.pop(code, None)

    def _count(self) -> int:
        with self._lock:
            now = self._clock()
            for code in [c for c, r in self._rooms.items() if now - r["touched"] > room_ttl(r)]:
                del self._rooms[code]
            return len(self._rooms)

    def _allow_join(self, client: str, address: str) -> bool:
        now = self._clock()
        return self.joins.allow(client, now) and self.joins_per_address.allow(address, now)


class RedisStore(RoomStore):
    """Rooms in Redis, shared by every replica of a school's deployment: one key
    per room holding its JSON, written with optimistic transactions (WATCH …
    MULTI) and expiring ROOM_TTL_S after its last change. Join limits are
    per-minute counters that expire with their minute."""

    PREFIX = "llm-xray:room:"

    def __init__(self, url: str, clock=time.time):
        import redis  # noqa: PLC0415  (only a school's deployment needs it)

        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2,
                                           decode_responses=True)
        self._watch_error = redis.WatchError
        self._clock = clock
        for name in ("_get", "_update", "_create", "_delete", "_count", "_allow_join"):
            setattr(self, name, _reachable(getattr(self, name), redis.RedisError))

    def _key(self, code: str) -> str:
        return self.PREFIX + code

    def _get(self, code: str) -> dict | None:
        raw = self._redis.get(self._key(code))
        return json.loads(raw) if raw else None

    def _update(self, code: str, change) -> bool:
        key = self._key(code)
        with self._redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    if not raw:
                        pipe.unwatch()
                        return False
                    room = json.loads(raw)
                    change(room)          # may raise: then nothing is written
                    room["touched"] = self._clock()
                    pipe.multi()
                    pipe.set(key, json.dumps(room), ex=room_ttl(room))
                    pipe.execute()
                    return True
                except self._watch_error:  # another replica changed it meanwhile: again
                    continue

    def _create(self, code: str, room: dict) -> bool:
        room = dict(room, touched=self._clock())
        return bool(self._redis.set(self._key(code), json.dumps(room), ex=room_ttl(room), nx=True))

    def _delete(self, code: str) -> None:
        self._redis.delete(self._key(code))

    def _count(self) -> int:
        return sum(1 for _ in self._redis.scan_iter(self.PREFIX + "*", count=500))

    def _allow_join(self, client: str, address: str) -> bool:
        minute = int(self._clock() // 60)
        for who, limit in ((f"c:{client}", JOINS_PER_MINUTE),
                           (f"a:{address}", JOINS_PER_ADDRESS_MINUTE)):
            key = f"llm-xray:joins:{who}:{minute}"
            with self._redis.pipeline() as pipe:
                count, _ = pipe.incr(key).expire(key, 120).execute()
            if count > limit:
                return False
        return True


def _reachable(method, redis_error):
    """A store that cannot be reached is a message, never a traceback."""
    def call(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except redis_error as err:
            raise RoomError("The class rooms are not reachable right now; try again in a "
                            "moment.", "room_store_down") from err
    return call


def open_store(redis_url: str | None = None) -> RoomStore:
    """Redis when a URL is given (LLM_XRAY_REDIS_URL), else this process's memory."""
    return RedisStore(redis_url) if redis_url else MemoryStore()
