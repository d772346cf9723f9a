"""Sessions that speak Streamlit's own websocket protocol: what a browser tab
sends (a rerun with its widget values) and what the server sends back, decoded
(texts, errors, charts, widgets). Thirty of them fit on a 2-core laptop beside
the server; thirty headless browsers would not."""
from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field

import websockets
from streamlit.proto.Alert_pb2 import Alert
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

STEP_TIMEOUT = 300.0   # one page update; generation can queue behind others


def chart_data(run: "Run", key, field_name: str):
    """A plotly chart's data array (`customdata`, `z` …) from what the server sent,
    decoding plotly's typed-array form. `key`: the chart's key, or its index on the page."""
    import json

    spec = run.chart_list[key] if isinstance(key, int) else run.charts.get(key)
    if spec is None:
        return None
    from harness.apptest import values
    return values(json.loads(spec)["data"][0].get(field_name))


def _strings(value, out: list[str]) -> None:
    """Every string inside a protobuf message (markdown bodies, code, chart specs)."""
    if isinstance(value, str):
        out.append(value)
    elif hasattr(value, "ListFields"):
        for _fd, item in value.ListFields():
            _strings(item, out)
    elif isinstance(value, (bytes, int, float, bool)):
        return
    elif callable(getattr(value, "values", None)):  # map field
        for item in value.values():
            _strings(item, out)
    else:
        for item in value:  # repeated field
            _strings(item, out)


@dataclass
class Run:
    """What one script run sent back."""
    seconds: float
    status: str
    widgets: dict = field(default_factory=dict)   # user key → (widget id, element kind)
    texts: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    kinds: set = field(default_factory=set)        # element kinds shown
    queued: bool = False
    gave_up: bool = False                          # waited too long for a slot
    charts: dict = field(default_factory=dict)     # plotly chart user key → spec JSON
    first_text: dict = field(default_factory=dict)  # prefix watched for → seconds until it showed
    chart_list: list = field(default_factory=list)  # every plotly spec, in page order


class Client:
    """One browser tab, as seen by the server."""

    def __init__(self, base_url: str):
        self.ws_url = base_url.replace("http://", "ws://") + "/_stcore/stream"
        self.origin = base_url
        self.ws = None
        self.live: dict = {}      # user key → (widget id, kind), as elements arrive (a run under way)

    async def connect(self):
        self.ws = await websockets.connect(
            self.ws_url, subprotocols=["streamlit"], origin=self.origin, max_size=None,
            open_timeout=60, ping_interval=None)

    async def close(self):
        if self.ws is not None:
            await self.ws.close()
            self.ws = None

    async def send(self, page: str, widgets: list[WidgetState] = ()) -> float:
        """Ask for a rerun without waiting for it (a click while a job runs); the time sent."""
        msg = BackMsg()
        msg.rerun_script.page_name = page
        msg.rerun_script.query_string = ""
        msg.rerun_script.widget_states.widgets.extend(widgets)
        await self.ws.send(msg.SerializeToString())
        return time.monotonic()

    async def rerun(self, page: str, widgets: list[WidgetState] = (), timeout=STEP_TIMEOUT,
                    until_first_run_ends: bool = False, watch: tuple[str, ...] = ()) -> Run:
        """Send a rerun and collect what comes back until the script finishes (a
        run interrupted by a newer request counts as finished with
        `until_first_run_ends`); `watch`: text prefixes whose first showing is timed."""
        started = await self.send(page, widgets)
        return await self.collect(started, timeout, until_first_run_ends, watch)

    async def collect(self, started: float, timeout=STEP_TIMEOUT,
                      until_first_run_ends: bool = False, watch: tuple[str, ...] = ()) -> Run:
        """What comes back until the script finishes. A run interrupted by a newer
        request (a click while a job runs) ends without a message of its own: the
        newer run's start says so, and `until_first_run_ends` stops there."""
        run, runs_started = Run(0.0, "timeout"), 0
        deadline = started + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                run.errors.append("timeout")
                break
            raw = await asyncio.wait_for(self.ws.recv(), timeout=left)
            fwd = ForwardMsg()
            fwd.ParseFromString(raw)
            kind = fwd.WhichOneof("type")
            if kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                seen = len(run.texts)
                self._element(fwd.delta.new_element, run)
                self.live.update(run.widgets)
                for prefix in watch:
                    if prefix not in run.first_text and any(
                            x.startswith(prefix) for x in run.texts[seen:]):
                        run.first_text[prefix] = time.monotonic() - started
            elif kind == "script_finished":
                run.status = ForwardMsg.ScriptFinishedStatus.Name(fwd.script_finished)
                if run.status != "FINISHED_EARLY_FOR_RERUN" or until_first_run_ends:
                    break
            elif kind == "new_session":
                runs_started += 1
                if until_first_run_ends and runs_started > 1:
                    run.status = "interrupted"
                    break
            elif kind == "page_not_found":
                run.errors.append("page not found")
        run.seconds = time.monotonic() - started
        return run

    @staticmethod
    def _element(el, run: Run) -> None:
        kind = el.WhichOneof("type")
        if kind is None:
            return
        proto = getattr(el, kind)
        run.kinds.add(kind)
        if kind == "exception":
            run.errors.append(f"exception: {proto.type}: {proto.message[:200]}")
        elif kind == "alert":
            if proto.format == Alert.ERROR:
                run.errors.append(f"error box: {proto.body[:200]}")
            elif proto.icon == "⏳":
                run.queued = True
                run.gave_up |= proto.format == Alert.WARNING
        if kind == "plotly_chart":
            run.chart_list.append(proto.spec)
            if proto.id:
                run.charts[proto.id.split("-", 2)[-1]] = proto.spec
        widget_id = getattr(proto, "id", "") if hasattr(proto, "id") else ""
        if widget_id and widget_id.startswith("$$ID"):
            user_key = widget_id.split("-", 2)[-1]
            run.widgets[user_key] = (widget_id, kind)
        _strings(proto, run.texts)


def text_widget(run: Run, prefix: str):
    """The page's text box: its own key first, else any outside the sidebar."""
    for wanted in ("text_area", "text_input"):
        for own in (True, False):
            for key, (wid, kind) in run.widgets.items():
                mine = key.startswith(prefix + ".") if own else not key.startswith("sidebar.")
                if kind == wanted and mine:
                    return wid
    return None


def slider_state(run: Run, key: str, value: float) -> list[WidgetState]:
    """[the slider `key` of the page set to `value`], or [] when the page has none."""
    found = run.widgets.get(key)
    if found is None or found[1] != "slider":
        return []
    state = WidgetState(id=found[0])
    state.double_array_value.data.append(value)
    return [state]


async def press_after_typing(client: "Client", page: str, typed: list, button_id: str,
                             **collect) -> tuple["Run", "Run"]:
    """A button pressed after changing widgets, as a browser sends it: the changes
    first, a rerun of their own, then the press with them. (Sent with the press in
    one message, a slider's new value was not taken.) (typing run, press run)."""
    typing = await client.rerun(page, typed)
    pressed = await client.rerun(page, list(typed) + [WidgetState(id=button_id, trigger_value=True)],
                                 **collect)
    return typing, pressed


def button(run: Run, prefix: str):
    for key, (wid, kind) in run.widgets.items():
        if key.startswith(prefix + ".") and kind == "button":
            return wid
    return None


def run_async(main):
    """asyncio.run(main()) in a thread of its own: a test's Playwright may keep an
    event loop running in the calling thread."""
    result: list = []
    worker = threading.Thread(target=lambda: result.append(asyncio.run(main())))
    worker.start()
    worker.join()
    assert result, "the websocket sessions did not finish"
    return result[0]
