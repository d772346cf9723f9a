"""The students' side of a class room: join with the code on the projector and
a nickname, answer the teacher's question, see the class's guesses beside the
model's answer when the teacher reveals it."""
import streamlit as st
import ui  # noqa: F401,I001 — first: the model core is imported whole, once (ui/__init__.py)
from llm_core.model.errors import XRayError
from llm_core.model.limits import CODE_BOX_CHARS, GUESS_CHARS, NICKNAME_CHARS
from ui import classroom
from ui.errors import guard, show_error
from ui.export import chart
from ui.i18n import t
from ui.markdown import md_escape
from ui.rooms import normalize_code, normalize_guess
from ui.pages import inside_app

inside_app()   # first: see ui/pages.py

st.title("🙋 " + t("nav.classroom"))
joined = classroom.joined_room()

if joined is None:
    st.markdown(t("classroom.student_intro"))
    with st.form("classroom.join_form"):
        code = st.text_input(t("classroom.code"), max_chars=CODE_BOX_CHARS, key="classroom.code",
                             value=normalize_code(st.query_params.get("room", "")),
                             placeholder="ABC234")
        nickname = st.text_input(t("classroom.nickname"), max_chars=NICKNAME_CHARS, key="classroom.nickname")
        st.caption(t("classroom.privacy"))
        if st.form_submit_button(t("classroom.join"), type="primary"):
            with guard():
                student = classroom.store().join(code, nickname, *classroom.client())
                classroom.remember_student(normalize_code(code), student)
                st.rerun()
    st.stop()


SEND_ERROR = "classroom.send_error"


def send(code: str, student: str, qid: str, field: str) -> None:
    """Before the board is drawn again, so it shows the guess as sent."""
    try:
        classroom.store().guess(code, student, qid, st.session_state.get(field) or "")
    except XRayError as err:
        st.session_state[SEND_ERROR] = err


@st.fragment(run_every=classroom.LIVE_EVERY)
def board(code: str, student: str) -> None:
    """The room as this student sees it, refreshed every few seconds."""
    try:
        view = classroom.store().view(code, student)
    except XRayError as err:   # the room store is unreachable for a moment
        show_error(err)
        return
    if view is None:
        st.warning(t("errors.room_closed"), icon="⚠️")
        return
    st.caption(t("classroom.joined_as", code=code, name=md_escape(view["nickname"]),
                 n=view["members"]))
    question = view["question"]
    if question is None:
        st.info(t("classroom.waiting_question"), icon="⏳")
        return
    st.markdown(f"**{t('classroom.question')}** {classroom.question_text(question)}")
    if view["answer"] is None and view["mine"] is None:
        field = f"classroom.guess.{question['id']}"
        with st.form(f"classroom.guess_form.{question['id']}"):
            if question["options"]:
                names = {o: md_escape(classroom.option_text(question, o)) for o in question["options"]}
                st.radio(t("classroom.your_guess"), question["options"], index=None, key=field,
                         format_func=names.get)   # fixed in this run's language
            else:
                st.text_input(t("classroom.your_guess"), max_chars=GUESS_CHARS, key=field)
            st.form_submit_button(t("classroom.send"), type="primary", on_click=send,
                                  args=(code, student, question["id"], field))
        if SEND_ERROR in st.session_state:
            show_error(st.session_state.pop(SEND_ERROR))
        return
    if view["answer"] is None:
        st.info(t("classroom.waiting_reveal", guess=classroom.shown_answer(question, view["mine"]),
                  n=view["answered"]), icon="⏳")
        return
    st.success(t("classroom.model_answer", answer=classroom.shown_answer(question, view["answer"])),
               icon="🤖")
    if view["mine"] is not None:
        right = normalize_guess(view["mine"]) == normalize_guess(view["answer"])
        st.markdown(t("classroom.you_right" if right else "classroom.you_other",
                      guess=classroom.shown_answer(question, view["mine"])))
    chart(classroom.histogram(view, normalize_guess(view["answer"])),
                    key=f"classroom.guesses.{question['id']}")


board(*joined)
if st.button(t("classroom.leave"), key="classroom.leave"):
    classroom.forget_student()
    st.rerun()
