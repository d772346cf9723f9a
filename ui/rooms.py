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
import ipaddress
import json
import secrets
import threading
import time
import unicodedata

from llm_core.model.errors import InputError
from llm_core.model.tokens import without_part

from llm_core.model.limits import (CODE_LENGTH, EMPTY_ROOM_TTL_S, GUESS_CHARS, JOINS_PER_ADDRESS_MINUTE,
                                   JOINS_PER_MINUTE, MAX_MEMBERS, MAX_ROOMS, NICKNAME_CHARS,
                                   ROOMS_PER_ADDRESS, ROOMS_PER_SESSION, ROOM_TTL_S)

# 31 characters with no look-alikes (no 0/O, 1/I/L): 31**6 ≈ 8.9e8 codes. With at
# most MAX_ROOMS open and JOINS_PER_MINUTE wrong tries per session, guessing a
# code takes on average more than 10**4 years of tries.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def _clean(text: str, limit: int) -> str:
    """One line of printable text (no control or format characters), cut to `limit`."""
    text = "".join(ch if unicodedata.category(ch)[0] not in "CZ" or ch == " " else " "
                   for ch in str(text))
    return " ".join(text.split())[:limit]


def normalize_code(code: str) -> str:
    return "".join(ch for ch in str(code).upper() if ch in ALPHABET)[:CODE_LENGTH]


def normalize_guess(guess: str) -> str:
    """Guesses are counted together when they differ only in case or spaces
    ("Paris", " paris"); an answer shown as the first piece of a character
    ("语[1/2]") is compared by that character."""
    return _clean(without_part(str(guess).strip()), GUESS_CHARS).casefold()


def client_address(peer: str, forwarded: str, trusted: str) -> str:
    """The network address a join is counted against. `X-Forwarded-For` is a
    header anybody can send, so it is read only when the connection comes from a
    proxy named in `trusted` (LLM_XRAY_TRUSTED_PROXIES: addresses or networks,
    comma-separated); then the address is its last entry not itself a trusted
    proxy. Otherwise the connection's own address counts."""
    nets = []
    for part in trusted.split(","):
        try:
            nets.append(ipaddress.ip_network(part.strip(), strict=False))
        except ValueError:
            continue

    def is_trusted(addr: str) -> bool:
        try:
            ip = ipaddress.ip_address(addr.strip())
        except ValueError:
            return False
        return any(ip in net for net in nets)

    if not forwarded or not is_trusted(peer):
        return peer
    for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
        if not is_trusted(hop):
            return hop
    return peer


def _tag(kind: str, who: str) -> str:
    """A session or an address as a bucket name: hashed, so a store keeps neither."""
    return kind + ":" + hashlib.blake2b(str(who).encode(), digest_size=8).hexdigest()


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


class RoomStore:
    """What the classroom does with rooms, over primitives a store implements
    atomically: `_get`, `_update` (read, change, write back as one step),
    `_create` (only if the code is free), `_delete`, `_openers` (who opened each
    live room) and `_hit` (count one more event in a bucket's current minute: one
    rate-limit rule for both stores). Every method returns plain data, so
    concurrent sessions never share a mutable object.

    Limits protect without locking a class out: a session that keeps typing
    wrong codes backs off alone (its own failures are counted first, and once it
    is over its limit its tries no longer count against the address a whole
    school shares); a session, and an address, may keep only so many rooms open."""

    def open_room(self, client: str | None = None, address: str = "") -> tuple[str, str]:
        """A new room: (code, teacher key). The key proves who may ask and reveal.
        From a session (`client`), the rooms it and its address keep open are limited."""
        if client is not None:
            openers = self._openers()
            if openers.count(_tag("s", client)) >= ROOMS_PER_SESSION or \
                    openers.count(_tag("a", address)) >= ROOMS_PER_ADDRESS:
                raise RoomError("Too many class rooms are open from here.", "room_rate_limited")
        if self._count() >= MAX_ROOMS:
            raise RoomError("Too many class rooms are open on this server.", "room_full")
        room = new_room(self._clock())
        if client is not None:
            room["opened_by"] = [_tag("s", client), _tag("a", address)]
        while True:
            code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
            if self._create(code, room):
                return code, room["teacher"]

    def join(self, code: str, nickname: str, client: str, address: str = "") -> str:
        """Join with a code: a student id (random, known only to that session).
        Wrong tries are limited per session first, then per network address."""
        nickname = _clean(nickname, NICKNAME_CHARS)
        if not nickname:
            raise RoomError("Type a nickname to join.", "room_nickname")
        if self._failures(client) >= JOINS_PER_MINUTE:      # backing off: the address is untouched
            raise RoomError("Too many tries to join; wait a minute.", "room_rate_limited")
        if self._hit(_tag("a", address)) > JOINS_PER_ADDRESS_MINUTE:
            raise RoomError("Too many tries to join; wait a minute.", "room_rate_limited")
        code = normalize_code(code)
        student = secrets.token_urlsafe(12)

        def add(room):
            if len(room["members"]) >= MAX_MEMBERS:
                raise RoomError("This class room is full.", "room_full")
            room["members"][student] = nickname

        if len(code) != CODE_LENGTH or not self._update(code, add):
            self._hit(_tag("f", client))
            raise RoomError("No class room has this code.", "room_unknown")
        return student

    def _failures(self, client: str) -> int:
        """This minute's wrong codes of one session (without counting one more)."""
        return self._hit(_tag("f", client), 0)

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
        self._counts: dict[tuple[str, int], int] = {}

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

    def _openers(self) -> list[str]:
        with self._lock:
            now = self._clock()
            return [tag for r in self._rooms.values() if now - r["touched"] <= room_ttl(r)
                    for tag in r.get("opened_by", ())]

    def _hit(self, bucket: str, n: int = 1) -> int:
        minute = int(self._clock() // 60)
        with self._lock:
            if len(self._counts) > 10_000:     # bounded: earlier minutes go
                self._counts = {k: v for k, v in self._counts.items() if k[1] >= minute}
            key = (bucket, minute)
            self._counts[key] = self._counts.get(key, 0) + n
            return self._counts[key]


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
        for name in ("_get", "_update", "_create", "_delete", "_count", "_openers", "_hit"):
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

    def _openers(self) -> list[str]:
        out = []
        for key in self._redis.scan_iter(self.PREFIX + "*", count=500):
            raw = self._redis.get(key)
            if raw:
                out.extend(json.loads(raw).get("opened_by", ()))
        return out

    def _hit(self, bucket: str, n: int = 1) -> int:
        key = f"llm-xray:count:{bucket}:{int(self._clock() // 60)}"
        with self._redis.pipeline() as pipe:
            count, _ = pipe.incrby(key, n).expire(key, 120).execute()
        return int(count)


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
