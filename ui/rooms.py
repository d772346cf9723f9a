"""Class rooms: a teacher opens a room (a short code shown on the projector),
students join it with the code and a nickname, the teacher asks the page's
question, students guess, the teacher reveals the model's answer beside the
class's guesses.

A room is a small JSON-able dict behind one store interface: `MemoryStore` in
this process (one process serves a class, the default). Nothing but a nickname
and the guesses is kept, and a room expires when idle. No streamlit here: the
widgets are in ui/classroom.py."""
from __future__ import annotations

import hashlib
import secrets
import threading
import time
import unicodedata
from collections import deque

from llm_core.errors import InputError

# 31 characters with no look-alikes (no 0/O, 1/I/L): 31**6 ≈ 8.9e8 codes. With at
# most MAX_ROOMS open and JOINS_PER_MINUTE tries per client, guessing a code
# takes on average more than 10**4 years of tries.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 6
ROOM_TTL_S = 3 * 3600          # an idle room is gone after a long lesson
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
    ("Paris", " paris")."""
    return _clean(guess, GUESS_CHARS).casefold()


def question_id(*parts) -> str:
    """A stable id for one question (page, text, settings), so a changed text is a new question."""
    return hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=6).hexdigest()


def new_room(now: float) -> dict:
    return {"created": now, "touched": now, "teacher": secrets.token_urlsafe(16),
            "members": {}, "question": None, "guesses": {}, "answer": None}


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


class MemoryStore:
    """Rooms in this process. Every method takes the lock briefly and returns
    plain data, so concurrent sessions never share a mutable object."""

    def __init__(self, clock=time.time):
        self._rooms: dict[str, dict] = {}
        self._lock = threading.Lock()
        self._clock = clock
        self.joins = RateLimiter()
        self.joins_per_address = RateLimiter(JOINS_PER_ADDRESS_MINUTE)

    # --- the store's primitives (a Redis store implements these three) ----------
    def _load(self, code: str) -> dict | None:
        room = self._rooms.get(code)
        if room is not None and self._clock() - room["touched"] > ROOM_TTL_S:
            del self._rooms[code]
            return None
        return room

    def _save(self, code: str, room: dict) -> None:
        room["touched"] = self._clock()
        self._rooms[code] = room

    def _drop(self, code: str) -> None:
        self._rooms.pop(code, None)

    def _expire(self) -> None:
        now = self._clock()
        for code in [c for c, r in self._rooms.items() if now - r["touched"] > ROOM_TTL_S]:
            del self._rooms[code]

    # --- what the classroom does -------------------------------------------------
    def open_room(self) -> tuple[str, str]:
        """A new room: (code, teacher key). The key proves who may ask and reveal."""
        with self._lock:
            self._expire()
            if len(self._rooms) >= MAX_ROOMS:
                raise RoomError("Too many class rooms are open on this server.", "room_full")
            while True:
                code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
                if code not in self._rooms:
                    break
            room = new_room(self._clock())
            self._save(code, room)
            return code, room["teacher"]

    def join(self, code: str, nickname: str, client: str, address: str = "") -> str:
        """Join with a code: a student id (random, known only to that session).
        Tries are limited per client (session) and per network address."""
        nickname = _clean(nickname, NICKNAME_CHARS)
        if not nickname:
            raise RoomError("Type a nickname to join.", "room_nickname")
        now = self._clock()
        if not (self.joins.allow(client, now) and self.joins_per_address.allow(address, now)):
            raise RoomError("Too many tries to join; wait a minute.", "room_rate_limited")
        code = normalize_code(code)
        with self._lock:
            room = self._load(code) if len(code) == CODE_LENGTH else None
            if room is None:
                raise RoomError("No class room has this code.", "room_unknown")
            if len(room["members"]) >= MAX_MEMBERS:
                raise RoomError("This class room is full.", "room_full")
            student = secrets.token_urlsafe(12)
            room["members"][student] = nickname
            self._save(code, room)
            return student

    def ask(self, code: str, teacher: str, question: dict) -> None:
        """Put a question to the room (its guesses and answer start empty). Asking
        the question already on the board keeps its guesses."""
        with self._lock:
            room = self._owned(code, teacher)
            if (room["question"] or {}).get("id") != question["id"]:
                room["question"], room["guesses"], room["answer"] = dict(question), {}, None
            self._save(code, room)

    def guess(self, code: str, student: str, qid: str, guess: str) -> None:
        guess = _clean(guess, GUESS_CHARS)
        if not guess:
            raise RoomError("Type or pick a guess first.", "room_empty_guess")
        with self._lock:
            room = self._load(code)
            if room is None or student not in room["members"]:
                raise RoomError("This class room has closed.", "room_closed")
            if (room["question"] or {}).get("id") != qid or room["answer"] is not None:
                raise RoomError("The teacher has moved on to another question.", "room_moved_on")
            room["guesses"][student] = guess
            self._save(code, room)

    def reveal(self, code: str, teacher: str, answer: str) -> None:
        with self._lock:
            room = self._owned(code, teacher)
            room["answer"] = str(answer)
            self._save(code, room)

    def close(self, code: str, teacher: str) -> None:
        with self._lock:
            self._owned(code, teacher)
            self._drop(code)

    def view(self, code: str, student: str | None = None) -> dict | None:
        """The room as its members see it (None once it is gone); with `student`,
        also that student's own guess and nickname."""
        with self._lock:
            room = self._load(code)
            if room is None or (student is not None and student not in room["members"]):
                return None
            out = room_view(room)
            if student is not None:
                out["mine"] = room["guesses"].get(student)
                out["nickname"] = room["members"][student]
            return out

    def _owned(self, code: str, teacher: str) -> dict:
        room = self._load(code)
        if room is None or not secrets.compare_digest(room["teacher"], teacher):
            raise RoomError("This class room has closed.", "room_closed")
        return room
