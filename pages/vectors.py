"""Concepts 1–2: a vector is a thing described by numbers; a matrix is an
operation on vectors (a rotation). The warm-up for "an LLM is a giant matrix"."""
import pandas as pd
import streamlit as st
import ui  # noqa: F401,I001 — first: the model core is imported whole, once (ui/__init__.py)
from llm_core.vectors import compare, named_vectors, turn
from ui.markdown import md_escape
from ui.fig_vectors import rotation_2d, vectors_3d
from ui.i18n import lang, t
from ui.widgets import LINKED, finite
from ui.export import chart
from ui.lesson_path import on_concept
from ui.pages import inside_app

inside_app()   # first: see ui/pages.py

DIMS = ("sweetness", "sourness", "hardness")
# Apple and lemon are the lesson's vectors; the others are made-up examples.
FRUITS = [("apple", 0.7, 0.3, 0.6), ("lemon", 0.2, 0.8, 0.4), ("banana", 0.8, 0.1, 0.2),
          ("green_apple", 0.5, 0.6, 0.7)]


def fmt(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".") if abs(x - round(x, 2)) < 1e-9 else f"{x:.3f}"


st.title(t("nav.vectors"))
st.info(t("vectors.notice"), icon="👀")

# --- 1. vectors --------------------------------------------------------------------------
def fruit_vectors():
    st.header(t("vectors.vector_header"))
    st.caption(t("vectors.vector_intro"))
    axis_titles = [t(f"vectors.{d}") for d in DIMS]
    start = pd.DataFrame([(t(f"vectors.{n}"), *v) for n, *v in FRUITS], columns=["name", *DIMS])
    number = {d: st.column_config.NumberColumn(t(f"vectors.{d}"), min_value=0.0, max_value=1.0,
                                               step=0.05, format="%.2f") for d in DIMS}
    table = st.data_editor(start, num_rows="dynamic", hide_index=True, key=f"vectors.table_{lang()}",
                           column_config={"name": st.column_config.TextColumn(t("vectors.col_name")),
                                          **number})

    found = named_vectors(table.to_dict("records"), DIMS)   # complete rows, each name once
    if found.dropped:
        st.caption(t("vectors.dropped", n=found.dropped))
    if found.renamed:
        st.caption(t("vectors.renamed"))
    vectors = found.vectors
    names = list(vectors)

    if len(vectors) < 2:
        st.warning(t("vectors.need_two"), icon="⚠️")
    else:
        left, right = st.columns([3, 2])
        with right:
            st.subheader(t("vectors.compare_header"))
            a_name = st.selectbox(t("vectors.pick_a"), names, index=0, key="vectors.a")
            b_name = st.selectbox(t("vectors.pick_b"), names, index=1, key="vectors.b")
            a, b = vectors[a_name], vectors[b_name]
            c = compare(a, b)
            if a_name == b_name:
                st.info(t("vectors.verdict_same"))
            elif c.cosine is not None:
                st.success(t("vectors.verdict", a=md_escape(a_name), b=md_escape(b_name),
                             cos=c.cosine, angle=c.angle_deg, dist=c.distance))
        with left:
            chart(vectors_3d(names, list(vectors.values()), dict(axis_titles=axis_titles),
                                       highlight=(a_name, b_name)), key="vectors.fig3d")
        vec = lambda v: r"\begin{bmatrix}" + r" & ".join(fmt(x) for x in v) + r"\end{bmatrix}"
        st.latex(rf"a = {vec(a)},\quad b = {vec(b)}")
        st.caption(t("vectors.dot"))
        st.latex(r"a \cdot b = " + " + ".join(f"{fmt(x)}\\times{fmt(y)}" for x, y in zip(a, b))
                 + f" = {c.dot:.3f}")
        st.caption(t("vectors.norms"))
        st.latex(rf"|a| = \sqrt{{{' + '.join(fmt(x) + '^2' for x in a)}}} = {c.norm_a:.3f},\quad "
                 rf"|b| = \sqrt{{{' + '.join(fmt(x) + '^2' for x in b)}}} = {c.norm_b:.3f}")
        if c.cosine is None:
            st.warning(t("vectors.zero_vector"), icon="⚠️")
        else:
            st.caption(t("vectors.cosine"))
            st.latex(rf"\cos\theta = \frac{{{c.dot:.3f}}}{{{c.norm_a:.3f} \times {c.norm_b:.3f}}}"
                     rf" = {c.cosine:.3f},\quad \theta = \arccos({c.cosine:.3f}) = "
                     rf"{c.angle_deg:.1f}^\circ")
        st.caption(t("vectors.distance"))
        st.latex(r"|a - b| = \sqrt{" + " + ".join(f"({d:+.2f})^2" for d in c.differences)
                 + f"}} = {c.distance:.3f}")
    st.caption(t("vectors.llm_note"))


# --- 2. a matrix turns vectors -----------------------------------------------------------
def matrix_turns():
    st.header(t("vectors.matrix_header"))
    st.caption(t("vectors.matrix_intro"))
    controls, figure = st.columns([2, 3])
    with controls:
        angle = st.slider(t("vectors.angle_slider"), -180, 180, 30, step=5, key="vectors.angle", **LINKED)
        px_col, py_col = st.columns(2)
        px = px_col.number_input(t("vectors.point_x"), -2.0, 2.0, 0.7, 0.1, key="vectors.px", **LINKED)
        py = py_col.number_input(t("vectors.point_y"), -2.0, 2.0, 0.3, 0.1, key="vectors.py", **LINKED)
    turned = turn((finite(px, 0.7), finite(py, 0.3)), angle)
    mp = turned.turned
    with figure:
        labels = {k: t(f"vectors.{k}") for k in ("before", "after", "shape_before", "shape_after")}
        labels.update(x=t("vectors.axis_x"), y=t("vectors.axis_y"))
        chart(rotation_2d(turned.point, mp, turned.shape, turned.turned_shape, angle, labels),
              key="vectors.fig2d")
    c_, s_ = turned.matrix[0][0], turned.matrix[1][0]
    st.latex(rf"M = \begin{{bmatrix}} \cos\theta & -\sin\theta \\ \sin\theta & \cos\theta "
             rf"\end{{bmatrix}} = \begin{{bmatrix}} \cos {angle}^\circ & -\sin {angle}^\circ \\ "
             rf"\sin {angle}^\circ & \cos {angle}^\circ \end{{bmatrix}} = \begin{{bmatrix}} "
             rf"{c_:.3f} & {-s_:.3f} \\ {s_:.3f} & {c_:.3f} \end{{bmatrix}}")
    st.latex(rf"M p = \begin{{bmatrix}} {c_:.3f} & {-s_:.3f} \\ {s_:.3f} & {c_:.3f} "
             rf"\end{{bmatrix}} \begin{{bmatrix}} {px:.2f} \\ {py:.2f} \end{{bmatrix}} = "
             rf"\begin{{bmatrix}} {c_:.3f}\times{px:.2f} + ({-s_:.3f})\times{py:.2f} \\ "
             rf"{s_:.3f}\times{px:.2f} + {c_:.3f}\times{py:.2f} \end{{bmatrix}} = "
             rf"\begin{{bmatrix}} {mp[0]:.3f} \\ {mp[1]:.3f} \end{{bmatrix}}")
    st.caption(t("vectors.product_caption", n0=turned.norm_before, n1=turned.norm_after))
    st.info(t("vectors.giant_matrix"), icon="🧮")


# On the lesson path's step about matrices, its question is about the rotation: it comes first.
for section in (matrix_turns, fruit_vectors) if on_concept(2) else (fruit_vectors, matrix_turns):
    section()
