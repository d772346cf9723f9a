"""The classroom: class rooms (codes, joins, guesses, reveal, expiry, isolation,
many students at once), predict-then-reveal on the pages, the lesson path, links
that carry the state (and hostile ones), exports, the language."""
from __future__ import annotations

import io
import json
import threading

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from harness.apptest import app_test, assert_clean, figures, shown, values

from ui import rooms
from ui.rooms import ALPHABET, CODE_LENGTH, MemoryStore, RoomError


class Clock:
    def __init__(self):
        self.now = 1_000.0

    def __call__(self):
        return self.now


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    """A private redis-server on a free port with its append-only file, as `make
    school` runs it (deploy/school.redis_command); returns (url, restart). Where
    redis-server is missing the Redis cases are skipped on a developer machine;
    CI installs it, so there they fail instead."""
    import os
    import shutil
    import socket
    import subprocess
    import time

    import redis

    from deploy.school import redis_command

    if shutil.which("redis-server") is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed (CI installs it in .ci/run)")
        pytest.skip("redis-server is not installed: the Redis room store is tested in CI")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url, folder = f"redis://127.0.0.1:{port}/0", tmp_path_factory.mktemp("redis")
    procs = []

    def start():
        procs.append(subprocess.Popen(redis_command(port, folder), stdout=subprocess.DEVNULL))
        client = redis.Redis.from_url(url)
        for _ in range(600):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def restart():
        procs[-1].terminate()
        procs[-1].wait(30)
        start()

    start()
    yield url, restart
    procs[-1].terminate()
    procs[-1].wait(10)


@pytest.fixture(scope="module")
def redis_url(redis_server):
    return redis_server[0]


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.school)])
def make_store(request):
    """A factory of empty stores of each kind: the classroom works the same on both."""
    if request.param == "memory":
        yield lambda clock=None: MemoryStore(clock or Clock())
        return
    import redis

    from ui.rooms import RedisStore

    url = request.getfixturevalue("redis_url")
    redis.Redis.from_url(url).flushdb()
    yield lambda clock=None: RedisStore(url, clock or Clock())


# --- the room store -------------------------------------------------------------------


def test_codes_are_random_and_of_the_safe_alphabet(make_store):
    store = make_store()
    codes = {store.open_room()[0] for _ in range(300)}
    assert len(codes) == 300
    assert all(len(c) == CODE_LENGTH and set(c) <= set(ALPHABET) for c in codes)
    assert not set(ALPHABET) & set("01OIL")
    # every character is used: codes are not a counter or a word list
    assert set("".join(codes)) == set(ALPHABET)


def test_a_room_from_question_to_reveal_counts_the_guesses(make_store):
    store = make_store()
    code, teacher = store.open_room()
    ana, bo, cy = (store.join(code.lower(), name, f"s{i}") for i, name in enumerate("abc"))
    store.ask(code, teacher, {"id": "q1", "text": "Which token?", "options": None})
    view = store.view(code, ana)
    assert view["question"]["text"] == "Which token?" and view["answer"] is None
    store.guess(code, ana, "q1", "Paris")
    store.guess(code, bo, "q1", "  paris ")
    store.guess(code, cy, "q1", "London")
    store.guess(code, cy, "q1", "Lyon")          # a student may change their mind
    view = store.view(code)
    assert view["answered"] == 3 and view["members"] == 3
    assert view["counts"] == {"paris": 2, "lyon": 1}
    assert view["answer"] is None                  # hidden until Reveal
    store.reveal(code, teacher, " Paris")
    assert store.view(code, cy)["answer"] == " Paris"
    assert store.view(code, cy)["mine"] == "Lyon"
    with pytest.raises(RoomError) as err:          # no guessing after the reveal
        store.guess(code, ana, "q1", "Rome")
    assert err.value.code == "room_moved_on"
    # a new question starts empty; asking the same one again keeps its guesses
    store.ask(code, teacher, {"id": "q2", "text": "Next?", "options": ["a", "b"]})
    store.guess(code, ana, "q2", "a")
    store.ask(code, teacher, {"id": "q2", "text": "Next?", "options": ["a", "b"]})
    assert store.view(code)["counts"] == {"a": 1}
    with pytest.raises(RoomError):                 # a guess for the old question
        store.guess(code, bo, "q1", "b")


def test_only_the_teacher_asks_reveals_and_closes_and_the_key_never_shows(make_store):
    store = make_store()
    code, teacher = store.open_room()
    student = store.join(code, "eve", "s")
    for action in (lambda k: store.ask(code, k, {"id": "x", "text": "?", "options": None}),
                   lambda k: store.reveal(code, k, "answer"), lambda k: store.close(code, k)):
        with pytest.raises(RoomError):
            action(student)
        with pytest.raises(RoomError):
            action("")
    assert teacher not in json.dumps(store.view(code, student))
    store.close(code, teacher)
    assert store.view(code) is None
    with pytest.raises(RoomError) as err:
        store.guess(code, student, "x", "a")
    assert err.value.code == "room_closed"


def test_rooms_are_isolated(make_store):
    store = make_store()
    (a, ta), (b, tb) = store.open_room(), store.open_room()
    sa, sb = store.join(a, "ana", "1"), store.join(b, "bo", "2")
    store.ask(a, ta, {"id": "q", "text": "A?", "options": None})
    store.ask(b, tb, {"id": "q", "text": "B?", "options": None})
    store.guess(a, sa, "q", "alpha")
    store.guess(b, sb, "q", "beta")
    assert store.view(a)["counts"] == {"alpha": 1}
    assert store.view(b)["counts"] == {"beta": 1}
    assert store.view(a, sb) is None               # a student of B cannot read A
    with pytest.raises(RoomError):
        store.guess(a, sb, "q", "sneaky")
    with pytest.raises(RoomError):                 # nor can A's teacher steer B
        store.reveal(b, ta, "x")


def test_joins_are_rate_limited_per_session_and_bad_codes_refused(make_store):
    clock = Clock()
    store = make_store(clock)
    code, _ = store.open_room()
    for wrong in ("", "ABC", "ZZZZZZ", "<script>", "🙂" * 6):
        with pytest.raises(RoomError) as err:
            store.join(wrong, "kim", "guesser")
        assert err.value.code == "room_unknown"
    for _ in range(rooms.JOINS_PER_MINUTE - 5):
        with pytest.raises(RoomError):
            store.join("QQQQQQ", "kim", "guesser")
    with pytest.raises(RoomError) as err:          # the right code too, once over the limit
        store.join(code, "kim", "guesser")
    assert err.value.code == "room_rate_limited"
    assert store.join(code, "lee", "another session")  # other students are not held up
    clock.now += 61
    assert store.join(code, "kim", "guesser")


def test_a_class_behind_one_address_can_join_at_once(make_store):
    store = make_store()
    code, _ = store.open_room()
    for i in range(40):
        store.join(code, f"s{i}", client=f"session{i}", address="10.0.0.1")
    assert store.view(code)["members"] == 40


def test_nicknames_and_guesses_are_plain_bounded_text(make_store):
    store = make_store()
    code, teacher = store.open_room()
    with pytest.raises(RoomError) as err:
        store.join(code, " \n\t\x00 ", "s")
    assert err.value.code == "room_nickname"
    student = store.join(code, "<b>Bo</b>\x00\u202e" + "x" * 100, "s")
    nick = store.view(code, student)["nickname"]
    assert len(nick) == rooms.NICKNAME_CHARS and "\x00" not in nick and "\u202e" not in nick
    store.ask(code, teacher, {"id": "q", "text": "?", "options": None})
    with pytest.raises(RoomError):
        store.guess(code, student, "q", "\n ")
    store.guess(code, student, "q", "y" * 500 + "\x07")
    assert list(store.view(code)["counts"]) == ["y" * rooms.GUESS_CHARS]


def test_idle_rooms_expire_and_the_store_is_bounded(monkeypatch):
    clock = Clock()
    store = MemoryStore(clock)
    code, teacher = store.open_room()
    student = store.join(code, "ana", "s")
    clock.now += rooms.ROOM_TTL_S - 10
    assert store.view(code, student) is not None   # a read does not keep a room alive …
    store.ask(code, teacher, {"id": "q", "text": "?", "options": None})   # … activity does
    clock.now += rooms.ROOM_TTL_S - 10
    assert store.view(code) is not None
    clock.now += 11
    assert store.view(code) is None
    monkeypatch.setattr(rooms, "MAX_ROOMS", 3)
    for _ in range(3):
        store.open_room()
    with pytest.raises(RoomError) as err:
        store.open_room()
    assert err.value.code == "room_full"
    clock.now += rooms.ROOM_TTL_S + 1              # expired rooms make space again
    assert store.open_room()


def test_thirty_students_in_two_rooms_at_once_are_counted_exactly(make_store):
    store = make_store()
    (a, ta), (b, tb) = store.open_room(), store.open_room()
    store.ask(a, ta, {"id": "qa", "text": "?", "options": None})
    store.ask(b, tb, {"id": "qb", "text": "?", "options": None})
    start = threading.Barrier(30)
    errors = []

    def student(i):
        try:
            code, qid = (a, "qa") if i % 2 else (b, "qb")
            start.wait()
            sid = store.join(code, f"n{i}", f"session{i}")
            for _ in range(20):                          # re-sending keeps one guess each
                store.guess(code, sid, qid, f"word{i % 3}")
                store.view(code, sid)
        except Exception as err:  # noqa: BLE001 - collected and asserted below
            errors.append(err)

    threads = [threading.Thread(target=student, args=(i,)) for i in range(30)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    va, vb = store.view(a), store.view(b)
    assert va["members"] == va["answered"] == 15 and vb["members"] == vb["answered"] == 15
    expect_a = {f"word{k}": sum(1 for i in range(1, 30, 2) if i % 3 == k) for k in range(3)}
    expect_b = {f"word{k}": sum(1 for i in range(0, 30, 2) if i % 3 == k) for k in range(3)}
    assert va["counts"] == expect_a and vb["counts"] == expect_b


@pytest.mark.school
def test_two_replicas_share_a_room_through_redis_and_rooms_expire_there(redis_url):
    import redis

    from ui.rooms import RedisStore

    first, second = RedisStore(redis_url), RedisStore(redis_url)   # two app processes
    code, teacher = first.open_room()
    student = second.join(code, "ana", "s")
    first.ask(code, teacher, {"id": "q", "text": "?", "options": None})
    second.guess(code, student, "q", "Paris")
    assert first.view(code)["counts"] == {"paris": 1}
    assert second.rejoin(code, student) and not second.rejoin(code, "someone else")
    ttl = redis.Redis.from_url(redis_url).ttl(RedisStore.PREFIX + code)
    assert rooms.ROOM_TTL_S - 5 <= ttl <= rooms.ROOM_TTL_S     # Redis drops it when idle
    first.close(code, teacher)
    assert second.view(code) is None


def test_an_unreachable_room_store_is_a_message():
    from ui.rooms import RedisStore

    store = RedisStore("redis://127.0.0.1:1/0")     # nothing listens on port 1
    with pytest.raises(RoomError) as err:
        store.open_room()
    assert err.value.code == "room_store_down"
    with pytest.raises(RoomError):
        store.join("ABCDEF", "ana", "s")


# --- predict, then reveal on the pages --------------------------------------------------


def _hidden_then_revealed(at, fig_key):
    at.toggle(key=f"{fig_key.split('.')[0]}.guess_first").set_value(True).run()
    assert_clean(at)
    assert fig_key not in {c.key for c in at.get("plotly_chart")}
    reveal = at.button(key=f"{fig_key.split('.')[0]}.reveal")
    reveal.click().run()
    assert_clean(at)
    return at


@pytest.mark.app
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_next_token_hides_the_bars_until_reveal_and_names_the_models_top_token(lang, decoder):
    from llm_core import next_token as nt

    at = app_test("pages/next_token.py", lang=lang)
    at.text_area(key="next_token.prompt").input("The capital of France is").run()
    _hidden_then_revealed(at, "next_token.fig_bars")
    _, logits = nt.next_token_logits(decoder, "The capital of France is")
    top = nt.readable(decoder, [int(logits.argmax())])[0]
    success = [s.value for s in at.success]
    assert any(top.replace(" ", "␣") in s for s in success), (top, success)
    assert at.get("plotly_chart"), "the bars are shown after Reveal"


@pytest.mark.app
def test_a_class_room_on_the_next_token_page_shows_the_guesses_beside_the_answer(decoder):
    from ui import classroom

    store = classroom.store()
    code, teacher = store.open_room()
    at = app_test("pages/next_token.py", state={classroom.TEACHER_KEY: (code, teacher)})
    at.text_area(key="next_token.prompt").input("The capital of France is").run()
    at.toggle(key="next_token.guess_first").set_value(True).run()
    assert_clean(at)
    from llm_core import next_token as nt

    question = store.view(code)["question"]
    assert question["key"] == "next_token.guess_question" and "capital" in question["params"]["text"]
    # answered by choosing: the model's top four and two from further down, shuffled
    from ui.fig_common import visible

    top = [visible(x) for x in nt.readable(decoder, nt.top_view(
        nt.next_token_logits(decoder, "The capital of France is")[1], n=12).ids)]
    options = question["options"]
    assert len(options) == 6 == len(set(options)) and set(top[:4]) <= set(options) <= set(top)
    assert options != top[:4] + [o for o in options if o not in top[:4]]   # not in rank order
    assert code in "".join(m.value for m in at.markdown)        # the code on the projector
    students = [store.join(code, name, f"t{name}") for name in ("ana", "bo", "cy")]
    london = next(o for o in options if o != "␣Paris")       # tokens as read: ␣ for a space
    for sid, guess in zip(students, ("␣Paris", "␣Paris", london)):
        store.guess(code, sid, question["id"], guess)
    assert store.view(code)["answer"] is None
    at.button(key="next_token.reveal").click().run()
    assert_clean(at)
    assert store.view(code)["answer"] == "␣Paris"
    hist = [f for f in figures(at) if f["data"][0]["type"] == "bar"
            and f["layout"]["yaxis"]["title"]["text"] == "students"]
    assert len(hist) == 1
    bars = dict(zip(hist[0]["data"][0]["x"], hist[0]["data"][0]["y"]))
    other = london.casefold()
    assert bars == {"␣paris": 2, other: 1}
    colors = dict(zip(hist[0]["data"][0]["x"], hist[0]["data"][0]["marker"]["color"]))
    assert colors["␣paris"] != colors[other]            # the model's answer stands out
    store.close(code, teacher)


@pytest.mark.app
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_student_joins_guesses_and_sees_the_reveal(lang):
    from ui import classroom
    from ui.i18n import table

    words = table(lang)
    store = classroom.store()
    code, teacher = store.open_room()
    at = app_test("pages/classroom.py", lang=lang)
    at.text_input(key="classroom.code").input(code.lower())
    at.text_input(key="classroom.nickname").input("ana")
    next(b for b in at.button if b.label == words["classroom.join"]).click().run()
    assert_clean(at)
    assert at.session_state[classroom.STUDENT_KEY][0] == code
    assert any(words["classroom.waiting_question"] in i.value for i in at.info)
    store.ask(code, teacher, {"id": "q", "text": "Which **word**?", "options": ["cat", "dog"]})
    at.run()
    next(r for r in at.radio if r.label == words["classroom.your_guess"]).set_value("dog")
    next(b for b in at.button if b.label == words["classroom.send"]).click().run()
    assert_clean(at)
    assert store.view(code)["counts"] == {"dog": 1}
    store.reveal(code, teacher, "dog")
    at.run()
    assert any("dog" in s.value for s in at.success)
    assert any(f["data"][0]["type"] == "bar" for f in figures(at))
    store.close(code, teacher)
    at.run()
    assert any(words["errors.room_closed"] in w.value for w in at.warning)


@pytest.mark.app
def test_each_student_reads_the_rooms_question_in_their_own_language():
    """A Chinese teacher's question reaches an English student in English and a
    Chinese student in Chinese; keyed options (confidence bins) too, and their
    guesses count together."""
    from ui import classroom
    from ui.i18n import table

    store = classroom.store()
    code, teacher = store.open_room()
    bins = [f"hallucination.guess_{b}" for b in ("low", "mid", "high")]
    store.ask(code, teacher, {"id": "q", "key": "hallucination.guess_question",
                              "params": {"question": "What is the capital of Zubrowka?"},
                              "options": bins, "keyed": True})
    seen = {}
    for lang in ("en", "zh"):
        words = table(lang)
        at = app_test("pages/classroom.py", lang=lang)
        at.text_input(key="classroom.code").input(code)
        at.text_input(key="classroom.nickname").input(f"s-{lang}")
        next(b for b in at.button if b.label == words["classroom.join"]).click().run()
        assert_clean(at)
        question = words["hallucination.guess_question"].format(question="What is the capital of Zubrowka?")
        assert any(question in m.value for m in at.markdown), lang
        radio = next(r for r in at.radio if r.label == words["classroom.your_guess"])
        assert [shown(o) for o in radio.options] == [words[b] for b in bins]
        radio.set_value(bins[2])
        next(b for b in at.button if b.label == words["classroom.send"]).click().run()
        assert_clean(at)
        seen[lang] = at
    assert store.view(code)["counts"] == {bins[2]: 2}            # one bar, whatever the language
    store.reveal(code, teacher, bins[2])
    for lang, at in seen.items():
        at.run()
        assert any(table(lang)[bins[2]] in shown(s.value) for s in at.success), lang
        (hist,) = [f for f in figures(at) if f["data"][0]["type"] == "bar"]
        assert list(hist["data"][0]["x"]) == [table(lang)[bins[2]]]
        assert hist["data"][0]["text"] == [f"2 {table(lang)['classroom.model_bar']}"]   # the answer's bar
    store.close(code, teacher)


@pytest.mark.unit
def test_token_choices_hold_the_top_and_others_in_a_fixed_shuffled_order():
    from ui.classroom import token_choices

    labels = [f"t{i}" for i in range(12)]
    a = token_choices(labels, seed="q")
    assert a == token_choices(labels, seed="q")                  # the same on every rerun
    assert set(labels[:4]) <= set(a) and len(a) == 6 == len(set(a))
    assert {tuple(token_choices(labels, seed=str(i))) for i in range(20)} != {tuple(a)}
    # the model's answer is not always first: the order gives nothing away
    assert len({token_choices(labels, seed=str(i)).index("t0") for i in range(20)}) > 1
    assert token_choices(["a", "b"], seed="q") in (["a", "b"], ["b", "a"])


@pytest.mark.app
def test_a_wrong_code_gets_a_message_in_the_users_language():
    from ui.i18n import table

    at = app_test("pages/classroom.py", lang="zh")
    at.text_input(key="classroom.code").input("WRONG1")
    at.text_input(key="classroom.nickname").input("小明")
    next(b for b in at.button if b.label == table("zh")["classroom.join"]).click().run()
    assert_clean(at)
    assert [w.value for w in at.warning] == [table("zh")["errors.room_unknown"]]


@pytest.mark.app
@pytest.mark.parametrize("nickname,code,error", [
    ("", None, "room_nickname"), ("\x00\u202e", None, "room_nickname"),
    ("ana", "", "room_unknown"), ("ana", "<img src=x onerror=alert(1)>", "room_unknown"),
    ("ana", "x" * 12, "room_unknown")])
def test_bad_joins_get_a_message_and_the_page_keeps_serving(nickname, code, error):
    from ui import classroom
    from ui.i18n import table

    store = classroom.store()
    real, teacher = store.open_room()
    at = app_test("pages/classroom.py")
    at.text_input(key="classroom.code").input(real if code is None else code)
    at.text_input(key="classroom.nickname").input(nickname)
    next(b for b in at.button if b.label == "Join").click().run()
    assert_clean(at)
    assert [w.value for w in at.warning] == [table("en")[f"errors.{error}"]]
    at.text_input(key="classroom.code").input(real)
    at.text_input(key="classroom.nickname").input("<b>**bo**</b>")
    next(b for b in at.button if b.label == "Join").click().run()
    assert_clean(at)
    caption = next(c.value for c in at.caption if "bo" in c.value)
    assert "\\<b\\>\\*\\*bo\\*\\*\\</b\\>" in caption      # escaped: shown as typed
    store.close(real, teacher)


@pytest.mark.app
@pytest.mark.parametrize("page,key", [("pages/attention.py", "attention"),
                                      ("pages/embeddings.py", "embeddings")])
def test_attention_and_analogy_hide_their_answer_until_reveal(page, key):
    at = app_test(page)
    before = len(at.get("plotly_chart"))
    at.toggle(key=f"{key}.guess_first").set_value(True).run()
    assert_clean(at)
    assert len(at.get("plotly_chart")) < before
    at.button(key=f"{key}.reveal").click().run()
    assert_clean(at)
    assert len(at.get("plotly_chart")) == before
    assert at.success


# --- the lesson path ---------------------------------------------------------------------


@pytest.mark.app
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_lesson_path_visits_every_step_with_next(lang):
    from ui.i18n import table
    from ui.lesson_path import STEP_KEY, STEPS

    words = table(lang)
    at = app_test(lang=lang)
    at.button(key="path.start").click().run()        # the sidebar starts at step 1
    for step, (url, _, preset) in enumerate(STEPS):
        assert_clean(at)
        assert at.session_state[STEP_KEY] == step
        text = "".join(m.value for m in at.markdown)
        assert words[f"path.s{step}_text"][:30] in text, (step, url)
        assert words[f"path.s{step}_question"][:20] in text
        for key, value in preset.items():
            assert at.session_state[key] == value, (step, key)
        if step < len(STEPS) - 1:
            at.button(key="path.next").click().run()
    assert at.button(key="path.next").disabled


@pytest.mark.app
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_rotation_step_shows_the_point_its_question_names(lang):
    """Step 3 asks where (1, 0) goes at 90°: the page opens on the rotation, with that
    point, turned to (0, 1)."""
    from ui.i18n import table
    from ui.lesson_path import STEP_KEY

    words = table(lang)
    at = app_test("pages/vectors.py", lang=lang, state={STEP_KEY: 1})
    at.button(key="path.next").click().run()
    assert_clean(at)
    assert "(1, 0)" in words["path.s2_question"] and "90°" in words["path.s2_question"]
    headers = [h.value for h in at.header]
    assert headers.index(words["vectors.matrix_header"]) < headers.index(words["vectors.vector_header"])
    (rotation,) = [f for f in figures(at) if len(f["data"]) and f["data"][0].get("x") is not None
                   and any(d.get("name") == words["vectors.after"] for d in f["data"])]
    point = next(d for d in rotation["data"] if d.get("name") == words["vectors.before"])
    after = next(d for d in rotation["data"] if d.get("name") == words["vectors.after"])
    assert (point["x"][-1], point["y"][-1]) == (1.0, 0.0)
    assert after["x"][-1] == pytest.approx(0, abs=1e-12) and after["y"][-1] == pytest.approx(1)
    at.button(key="path.leave").click().run()            # off the path: the fruit vectors first
    headers = [h.value for h in at.header]
    assert headers.index(words["vectors.vector_header"]) < headers.index(words["vectors.matrix_header"])


@pytest.mark.app
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_attention_step_shows_the_row_of_it(lang):
    """Step 10 asks what “it” attends to: the page shows the row of “it”, at a head
    where its strongest key is the noun it stands for; a room's question names “it”."""
    from ui.i18n import table
    from ui.lesson_path import STEP_KEY, STEPS

    step = next(i for i, (url, _c, preset) in enumerate(STEPS) if url == "attention")
    words = table(lang)
    assert "it" in words[f"path.s{step}_question"]
    from ui.lesson_path import link_params

    # the step's link, as Next (or a teacher's shared link) opens it
    at = _with_link("pages/attention.py", link_params(step, lang, "smollm2", False))
    assert_clean(at)
    assert at.session_state[STEP_KEY] == step
    token = at.selectbox(key="attention.token")
    assert token.format_func(token.value).endswith("␣it")
    (layer, head) = (at.slider(key="attention.layer").value, at.slider(key="attention.head").value)
    heat = figures(at)[0]
    row = values(heat["data"][0]["z"])[token.value][: token.value + 1]
    assert int(np.nanargmax(row)) == 1                     # “␣animal”, at this preset's head
    assert (layer, head) == (13, 8)
    at.toggle(key="attention.guess_first").set_value(True).run()
    question = " ".join(m.value for m in at.markdown if words["classroom.question"] in m.value)
    assert "␣it" in question


@pytest.mark.app
def test_next_and_back_move_along_the_path():
    from ui.lesson_path import STEP_KEY

    at = app_test(state={STEP_KEY: 0})
    at.button(key="path.next").click().run()
    assert at.session_state[STEP_KEY] == 1
    assert_clean(at)
    at.button(key="path.next").click().run()      # step 3 is on the same page (vectors)
    assert at.session_state[STEP_KEY] == 2 and at.session_state["vectors.angle"] == 90
    at.button(key="path.back").click().run()
    assert at.session_state[STEP_KEY] == 1
    at.button(key="path.leave").click().run()
    assert at.session_state[STEP_KEY] is None
    assert not [b for b in at.button if b.key == "path.next"]


# --- links carry the state -------------------------------------------------------------


def _with_link(page: str, params: dict, first_run_on_page: bool = True):
    """A session opened with a link to `page`. AppTest finds a page before its
    first run by file name only, so pages whose url differs run the home page first."""
    from harness import ROOT
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params.update(params)
    if not first_run_on_page:
        at.run()
    at.switch_page(page)
    at.run()
    return at


@pytest.mark.app
def test_a_link_restores_the_page_state():
    at = _with_link("pages/next_token.py", {
        "lang": "zh", "next_token.prompt": "Hello world", "next_token.temperature": "0.3",
        "next_token.top_k": "5", "present": "1"}, first_run_on_page=False)
    assert_clean(at)
    assert at.session_state["shared.lang"] == "zh"
    assert at.text_area(key="next_token.prompt").value == "Hello world"
    assert at.slider(key="next_token.temperature").value == pytest.approx(0.3)
    assert at.slider(key="next_token.top_k").value == 5
    assert at.session_state["shared.present"] is True
    assert not at.toast


@pytest.mark.app
def test_hostile_link_values_are_dropped_with_one_notice():
    at = _with_link("pages/attention.py", {
        "attention.layer": "999", "attention.head": "abc", "lang": "xx", "step": "99",
        "present": "yes", "<script>alert(1)</script>": "1"})
    assert_clean(at)
    assert at.slider(key="attention.layer").value == 15          # the page's default
    assert at.slider(key="attention.head").value == 0
    assert at.session_state["shared.lang"] in ("en", "zh")
    assert at.session_state["path.step"] is None
    toasts = [t.value for t in at.toast]
    assert len(toasts) == 1
    for key in ("attention\\.layer", "attention\\.head", "lang", "step"):   # md-escaped
        assert key in toasts[0]
    assert "+2" in toasts[0] and "<script>" not in toasts[0]    # 4 named, then the count


@pytest.mark.app
def test_a_parameter_name_cannot_write_markdown_into_the_notice():
    at = _with_link("pages/attention.py", {"x\n\n[Log in](https://evil.example)": "1"})
    toast = at.toast[0].value
    assert "[Log in](https" not in toast and "\n" not in toast
    at.run()
    assert len(at.toast) == 0                                     # said once


@pytest.mark.app
@pytest.mark.parametrize("page,key", [("pages/tokens.py", "tokens.text"),
                                      ("pages/attention.py", "attention.text")])
def test_a_long_text_in_a_link_gets_the_too_long_message(page, key):
    from ui.i18n import table

    at = _with_link(page, {key: "x" * 200_000})
    assert_clean(at)
    expected = table("en")["errors.too_long"].format(n=200_000, limit=50_000)
    assert [w.value for w in at.warning] == [expected]


@pytest.mark.app
def test_a_link_over_streamlits_512k_limit_is_ignored_whole():
    # "猫" is 9 characters in a URL: 200,000 of them pass the 512 Ki limit, so
    # Streamlit drops the whole query string and the page opens as usual.
    at = _with_link("pages/tokens.py", {"tokens.text": "猫" * 200_000})
    assert_clean(at)
    assert len(at.text_area(key="tokens.text").value) < 100


@pytest.mark.app
def test_a_link_to_a_model_the_server_does_not_have_is_a_message():
    at = _with_link("pages/attention.py", {"model": "no-such/model-here"})
    assert_clean(at)
    from ui.i18n import table
    assert [shown(w.value) for w in at.warning] == [
        table("en")["errors.offline"].format(name="no-such/model-here")]
    assert at.selectbox(key="sidebar.model_choice").value == "hub"


@pytest.mark.app
def test_the_language_follows_the_browser_then_the_sidebar():
    from harness import ROOT
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.context["locale"] = "zh-CN"
    at.run()
    assert at.session_state["shared.lang"] == "zh"
    assert at.title[0].value == "🔬 LLM X-Ray：完整流程"
    assert at.query_params["lang"] == "zh"
    at.radio(key="shared.lang").set_value("en").run()
    assert "lang" not in at.query_params           # a copied link opens in English
    assert at.title[0].value == "🔬 LLM X-Ray: the whole pipeline"
    en = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    en.context["locale"] = "en-GB"
    en.run()
    assert en.session_state["shared.lang"] == "en"


# --- export -------------------------------------------------------------------------------


def test_figure_tables_hold_the_numbers_drawn():
    from ui.export import csv_bytes, figure_table, file_stem

    bar = go.Figure([go.Bar(x=["␣Paris", "的"], y=[0.61, 0.02], name="p"),
                     go.Scatter(x=[0, 1, 2], y=[3.0, 2.5, 1.0], name="curve")],
                    layout={"title": {"text": "下一个 Token <b>T = 1.0</b>"}})
    frame = pd.read_csv(io.BytesIO(csv_bytes(figure_table(bar))), encoding="utf-8-sig")
    assert frame[frame.trace == "p"].y.tolist() == [0.61, 0.02]
    assert frame[frame.trace == "p"].x.tolist() == ["␣Paris", "的"]
    assert frame[frame.trace == "curve"].y.tolist() == [3.0, 2.5, 1.0]
    heat = go.Figure([go.Heatmap(z=[[1, 2, 3], [4, 5, 6]], x=["a", "b", "c"], y=["r0", "r1"])])
    cells = figure_table(heat)
    assert len(cells) == 6
    assert cells[(cells.row == "r1") & (cells.column == "b")].value.item() == 5
    stem = file_stem(bar, "next_token.fig_bars")
    assert stem.startswith("llm-xray-下一个-Token") and "<" not in stem and " " not in stem


@pytest.mark.app
def test_the_next_token_csv_is_what_the_bars_show():
    from ui.export import figure_table

    at = app_test("pages/next_token.py")
    spec = next(f for f in figures(at) if f["data"] and f["data"][0]["type"] == "bar")
    table = figure_table(go.Figure(spec))
    first = spec["data"][0]
    rows = table[table.trace == (first.get("name") or "bar0")]
    assert rows.y.tolist() == pytest.approx(list(first["y"]), abs=0)
    csv = [b for b in at.get("download_button") if b.proto.label == "CSV"]
    assert len(csv) == len(at.get("plotly_chart"))        # every figure has its data


def test_the_trace_export_holds_the_trace(decoder):
    import torch

    from llm_core.logit_lens import logit_lens, trace_export

    trace = decoder.trace("The capital of France is")
    data = json.loads(json.dumps(trace_export(decoder, trace, logit_lens(decoder, trace), 3, 2)))
    assert [t["id"] for t in data["tokens"]] == trace.ids.tolist()
    assert len(data["lens_last_position"]) == trace.n_layers + 1
    weights = torch.tensor(data["attention"]["weights"])
    # rounded to 6 decimals: each row still sums to 1 within n · 5e-7
    assert torch.allclose(weights.sum(-1), torch.ones(weights.shape[0]), atol=weights.shape[1] * 5e-7)
    assert torch.allclose(weights, trace.attention_pattern[3, 2], atol=5e-7)
    top = data["next_token_top"]
    assert top[0]["id"] == int(trace.last_logits.argmax()) and len(top) == 10
    assert [p["p"] for p in top] == sorted((p["p"] for p in top), reverse=True)
    final = data["lens_last_position"][-1]["top"][0]
    assert final["id"] == top[0]["id"]          # the lens's last depth is the model's output
    with pytest.raises(Exception):
        trace_export(decoder, trace, logit_lens(decoder, trace), 99, 0)


@pytest.mark.app
def test_presenter_mode_enlarges_the_figures_without_touching_the_shared_one():
    at = app_test("pages/next_token.py")
    normal = [f["layout"].get("font", {}).get("size") for f in figures(at)]
    at.toggle(key="shared.present").set_value(True).run()
    assert_clean(at)
    big = [f["layout"]["font"]["size"] for f in figures(at)]
    assert all(b > (n or 12) for b, n in zip(big, normal))
    at.toggle(key="shared.present").set_value(False).run()
    assert [f["layout"].get("font", {}).get("size") for f in figures(at)] == normal


# --- Chinese pieces read as characters --------------------------------------------------


def test_split_characters_show_the_character_and_their_part(decoder):
    trace = decoder.trace("大语言模型是一个巨大的🙂")
    texts = trace.token_texts
    assert texts[:3] == ["大", "语[1/2]", "语[2/2]"]
    assert texts[-2:] == ["🙂[1/2]", "🙂[2/2]"]
    assert len(set(texts) - {"大"}) == len(texts) - 2       # 大 twice; every piece unique
    assert all("‹" not in x for x in texts)
    english = decoder.trace("The cat sat")
    assert english.token_texts == [t.text for t in english.tokens]


def test_a_candidate_that_starts_a_character_shows_what_the_model_completes(decoder):
    import torch

    from llm_core import next_token as nt

    ids, logits = nt.next_token_logits(decoder, "大语言模型是一个巨大的")
    top = logits.topk(30).indices.tolist()
    done = nt.complete_characters(decoder, ids, top)
    assert done, "a Chinese prompt has candidates that start a character"
    texts = nt.candidate_texts(decoder, top, done)
    assert len(set(texts)) == len(texts)                     # labels always unique
    first = next(i for i in top if i in done)
    # the completion is the model's own greedy continuation after that candidate
    seq = torch.cat([ids, torch.tensor([first])])
    out = [first]
    for _ in range(3):
        nxt = decoder.forward_logits(seq)
        out.append(int(nxt.argmax()))
        seq = torch.cat([seq, torch.tensor([out[-1]])])
        text = decoder.tokenizer.decode(out)
        if "\ufffd" not in text[:1]:
            break
    piece = decoder.tokenizer.decode([first])
    assert "\ufffd" in piece                                # the candidate alone is no character
    label = texts[top.index(first)]
    assert label == f"{text[0]}[1/{len(out)}]"               # the character and its part
    assert all("‹" not in x for x in texts)


def test_candidates_that_complete_alike_keep_apart(decoder):
    from llm_core import next_token as nt

    ids, _ = nt.next_token_logits(decoder, "大语言模型是一个巨大的")
    lead, pair = decoder.tokenizer.convert_tokens_to_ids(["è", "è¯"])
    texts = nt.candidate_texts(decoder, [lead, pair], {lead: "语[1/2]", pair: "语[1/2]"})
    assert texts == ["语[1/2] ‹e8›", "语[1/2] ‹e8 af›"]
    ids, logits = nt.next_token_logits(decoder, "The cat sat on the")
    assert nt.top_completions(decoder, ids, logits) == {}  # English: nothing to complete, no run


@pytest.mark.app
def test_a_room_store_that_goes_down_is_a_message_on_every_classroom_screen(monkeypatch):
    from ui import classroom
    from ui.i18n import table
    from ui.rooms import RedisStore

    store = classroom.store()
    code, teacher = store.open_room()
    student = store.join(code, "ana", "s")
    at = app_test("pages/next_token.py", state={classroom.TEACHER_KEY: (code, teacher)})
    pupil = app_test("pages/classroom.py", state={classroom.STUDENT_KEY: (code, student)})
    monkeypatch.setattr(classroom, "_STORE", [RedisStore("redis://127.0.0.1:1/0")])
    at.toggle(key="next_token.guess_first").set_value(True).run()
    pupil.run()
    down = table("en")["errors.room_store_down"]
    for screen in (at, pupil):
        assert_clean(screen)
        assert down in [w.value for w in screen.warning]
    assert at.session_state[classroom.TEACHER_KEY] == (code, teacher)   # the room is kept


# --- both languages on every page -----------------------------------------------------------

RAW_KEY = __import__("re").compile(r"[a-z_]+\.[a-z_0-9]+(\.[a-z_0-9]+)*")


def _visible_texts(at) -> list[str]:
    texts = [e.value for kind in ("title", "header", "subheader", "markdown", "caption", "info",
                                  "warning", "success") for e in at.get(kind)]
    for kind in ("button", "toggle", "radio", "selectbox", "slider", "text_area", "text_input",
                 "checkbox", "number_input", "select_slider"):
        for widget in at.get(kind):
            texts.append(getattr(widget, "label", "") or "")
            texts.extend(str(o) for o in getattr(widget, "options", []) or [])
    return texts


@pytest.mark.app
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_no_page_shows_a_raw_key_in_either_language(lang):
    from ui.pages import PAGES

    for _, name, _ in PAGES:
        at = app_test(f"pages/{name}.py", lang=lang)
        assert_clean(at)
        raw = [x for x in _visible_texts(at) if RAW_KEY.fullmatch(x.strip())]
        assert not raw, (name, raw)


@pytest.mark.app
def test_the_figure_button_saves_png_or_svg_with_a_readable_name():
    at = app_test("pages/next_token.py")
    configs = [json.loads(c.proto.config) for c in at.get("plotly_chart")]
    assert configs and all(c["toImageButtonOptions"]["format"] == "png" for c in configs)
    assert configs[0]["toImageButtonOptions"]["filename"].startswith("llm-xray-The-next-token")
    at.radio(key="shared.figure_format").set_value("svg").run()
    assert_clean(at)
    svg = [json.loads(c.proto.config)["toImageButtonOptions"]["format"]
           for c in at.get("plotly_chart")]
    assert svg and set(svg) == {"svg"}


def test_open_rooms_are_limited_per_session_and_per_address(make_store):
    """499 empty rooms from one address cannot fill the server: a session keeps at
    most ROOMS_PER_SESSION open, an address ROOMS_PER_ADDRESS; another school's
    teacher still opens one; rooms that expired count no more."""
    clock = Clock()
    store = make_store(clock)
    for _ in range(rooms.ROOMS_PER_SESSION):
        store.open_room("one session", "10.0.0.9")
    with pytest.raises(RoomError) as err:
        store.open_room("one session", "10.0.0.9")
    assert err.value.code == "room_rate_limited"
    for i in range(rooms.ROOMS_PER_ADDRESS - rooms.ROOMS_PER_SESSION):
        store.open_room(f"session {i}", "10.0.0.9")           # new sessions, same address
    with pytest.raises(RoomError) as err:
        store.open_room("yet another session", "10.0.0.9")
    assert err.value.code == "room_rate_limited"
    assert store.open_room("a teacher elsewhere", "192.0.2.7")
    if isinstance(store, MemoryStore):                          # Redis keeps time itself
        clock.now += rooms.EMPTY_ROOM_TTL_S + 1
        assert store.open_room("one session", "10.0.0.9")


def test_one_session_typing_wrong_codes_cannot_lock_out_its_school(make_store):
    """300 wrong codes from one browser session in a few seconds: that session
    waits, and a classmate behind the same address joins with the right code."""
    store = make_store(Clock())
    code, _ = store.open_room()
    refused = 0
    for _ in range(300):
        with pytest.raises(RoomError) as err:
            store.join("QQQQQQ", "mallory", "one session", "10.0.0.9")
        refused += err.value.code == "room_rate_limited"
    assert refused == 300 - rooms.JOINS_PER_MINUTE
    for i in range(30):                                         # the class, same address
        assert store.join(code, f"student {i}", f"session {i}", "10.0.0.9")


def test_a_room_nobody_joined_expires_sooner():
    clock = Clock()
    store = MemoryStore(clock)       # Redis keeps time itself (its TTL is checked above)
    code, _ = store.open_room()
    clock.now += rooms.EMPTY_ROOM_TTL_S - 1
    assert store.view(code) is not None
    clock.now += 2
    assert store.view(code) is None


def test_a_pieces_completion_counts_as_its_answer():
    assert rooms.normalize_guess("语[1/2]") == rooms.normalize_guess(" 语 ")
    assert rooms.normalize_guess("语[1/2]") != rooms.normalize_guess("言")
    assert rooms.normalize_guess("[1/2]") == "[1/2]"          # only a suffix is a part


def test_csv_cells_are_never_formulas():
    from ui.export import csv_bytes
    frame = pd.DataFrame({"guess": ["=HYPERLINK(\"x\")", "+1", "Paris"], "n": [-1, 2, 3]})
    cells = pd.read_csv(io.BytesIO(csv_bytes(frame)), encoding="utf-8-sig")
    assert cells.guess.tolist() == ["'=HYPERLINK(\"x\")", "'+1", "Paris"]
    assert cells.n.tolist() == [-1, 2, 3]


def test_equal_histogram_labels_stay_apart():
    from ui.fig_classroom import guess_histogram
    same = "x" * 17
    fig = guess_histogram({same + "a": 2, same + "b": 1}, None,
                          {"title": "", "count_axis": "", "other": "other", "answer_name": ""})
    assert len(set(fig.data[0].x)) == 2


@pytest.mark.app
def test_a_question_asked_again_after_another_is_open_again_for_the_room():
    """Reveal A, ask B, go back to A: the room asks A afresh (its guesses and answer
    start empty), so the teacher's page must offer Reveal again, not show A's answer."""
    from ui import classroom

    store = classroom.store()
    code, teacher = store.open_room()
    at = app_test("pages/next_token.py", state={classroom.TEACHER_KEY: (code, teacher)})
    box = at.text_area(key="next_token.prompt")
    box.input("The capital of France is").run()
    at.toggle(key="next_token.guess_first").set_value(True).run()
    at.button(key="next_token.reveal").click().run()
    assert store.view(code)["answer"] is not None
    at.text_area(key="next_token.prompt").input("The cat sat on the").run()
    at.text_area(key="next_token.prompt").input("The capital of France is").run()
    assert_clean(at)
    assert store.view(code)["answer"] is None
    assert [b for b in at.button if b.key == "next_token.reveal"]
    assert not at.success
    store.close(code, teacher)


@pytest.mark.app
@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e999", "99999999999999999999999"])
def test_a_number_no_box_can_hold_is_dropped_from_a_link_with_the_notice(value):
    from harness import ROOT
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params.update({"generate.seed": value, "vectors.px": value})
    at.run()                                              # the front page: the notice
    toasts = [x.value for x in at.toast]
    at.switch_page("pages/generate.py").run()
    assert_clean(at)
    assert at.text_input(key="generate.seed").value == "0" and not at.warning
    assert len(toasts) == 1 and "generate\\.seed" in toasts[0] and "vectors\\.px" in toasts[0]
    ok = _with_link("pages/generate.py", {"generate.seed": "12"})
    assert ok.text_input(key="generate.seed").value == "12" and not ok.toast


@pytest.mark.app
@pytest.mark.parametrize("typed", ["abc", "-1", "1e3", "2147483648", " "])
def test_a_whole_number_box_refuses_anything_else_in_the_users_language(typed):
    from ui.i18n import table
    at = app_test("pages/generate.py", "zh")
    at.text_input(key="generate.seed").input(typed).run()
    assert_clean(at)
    assert [w.value for w in at.warning] == [table("zh")["common.bad_whole_number"].format(
        low=0, high=2**31 - 1, default=0)]


@pytest.mark.parametrize("peer,forwarded,trusted,expected", [
    ("203.0.113.5", "1.2.3.4", "", "203.0.113.5"),                    # reached directly: ignored
    ("203.0.113.5", "1.2.3.4", "127.0.0.1", "203.0.113.5"),           # … from an untrusted peer too
    ("127.0.0.1", "198.51.100.7", "127.0.0.1", "198.51.100.7"),       # through the school's HAProxy
    ("127.0.0.1", "6.6.6.6, 198.51.100.7", "127.0.0.1", "198.51.100.7"),  # a forged first hop
    ("10.1.2.3", "198.51.100.7, 10.9.9.9", "10.0.0.0/8", "198.51.100.7"),  # ingress chain (k8s)
    ("127.0.0.1", "", "127.0.0.1", "127.0.0.1"),
    ("127.0.0.1", "not an address", "127.0.0.1, junk", "not an address"),
])
def test_x_forwarded_for_is_read_only_from_a_trusted_proxy(peer, forwarded, trusted, expected):
    assert rooms.client_address(peer, forwarded, trusted) == expected


def test_six_hundred_forged_addresses_without_a_trusted_proxy_count_as_one(make_store):
    store = make_store(Clock())
    code, _ = store.open_room()
    refused = 0
    for i in range(600):
        address = rooms.client_address("203.0.113.5", f"10.0.{i // 256}.{i % 256}", "")
        try:
            store.join("QQQQQQ", "x", f"session {i}", address)
        except RoomError as err:
            refused += err.code == "room_rate_limited"
    assert refused == 600 - rooms.JOINS_PER_ADDRESS_MINUTE


@pytest.mark.school
def test_rooms_survive_a_restart_of_redis(redis_server):
    """Mid-class, Redis restarts (a crash, an update): the room, its students and
    their guesses are still there, and the class goes on."""
    from ui.rooms import RedisStore
    url, restart = redis_server
    store = RedisStore(url)
    code, teacher = store.open_room("teacher", "10.0.0.1")
    students = [store.join(code, f"s{i}", f"session {i}", "10.0.0.1") for i in range(3)]
    store.ask(code, teacher, {"id": "q1", "text": "Next token?", "options": []})
    store.guess(code, students[0], "q1", "Paris")
    restart()
    again = RedisStore(url)                       # a replica reconnecting
    view = again.view(code)
    assert view is not None and view["members"] == 3 and view["counts"] == {"paris": 1}
    again.guess(code, students[1], "q1", "Paris")
    assert again.view(code)["counts"] == {"paris": 2}
