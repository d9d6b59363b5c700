"""Charts are inline SVG drawn from numbers: nothing to load from anywhere, labels escaped."""

from __future__ import annotations

from ingress.ops.charts import bar_chart, legend


def test_bars_stack_per_slot_and_nothing_is_loaded_from_elsewhere() -> None:
    points = [{"at": 1_764_460_800 + 60 * i, "calls_logged": i, "retries": 1 if i == 2 else 0} for i in range(3)]
    svg = str(bar_chart(points, ("calls_logged", "retries"), title="<calls>", time_format="%H:%M"))
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count("<rect") == 3  # two logged bars (0 draws nothing) and one retry stacked on top
    assert "&lt;calls&gt;" in svg and "<calls>" not in svg
    assert "href" not in svg and "http://" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert ">00:00<" in svg and ">00:02<" in svg


def test_an_empty_chart_still_draws_its_axes() -> None:
    svg = str(bar_chart([], ("calls_logged",), title="empty", time_format="%H:%M"))
    assert "<rect" not in svg and svg.count("<line") == 3
    assert "<b>4</b>" in str(legend(("calls_logged",), {"calls_logged": 4}))
