"""The interactive twin of a returned chart keeps the agent's colours (price blue,
moving average red) and still tells several tickers apart."""
from agent_core.tables import read_table, to_long
from components.charts import price_chart
from components.file_view import _blue_red_colours


def _hue_is(colour: str, channel: int) -> bool:
    rgb = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
    return rgb[channel] == max(rgb) and rgb[channel] > min(rgb)


def test_several_tickers_get_distinct_blue_prices_and_red_averages():
    with open("assets/sample_prices.csv", "rb") as fh:
        result = read_table("sample.csv", fh.read())
    long = to_long(result.profile, result.frame)
    tickers = sorted(long["ticker"].unique())
    fig = price_chart(long, ma_windows=(20,), colors=_blue_red_colours(tickers, 20))
    shown = {t.name: t.line.color for t in fig.data if t.name and t.showlegend is not False}
    prices = [shown[t] for t in tickers]
    averages = [shown[f"{t} MA 20"] for t in tickers]
    assert len(set(prices)) == len(tickers) and len(set(averages)) == len(tickers)
    assert all(_hue_is(c, 2) for c in prices), prices      # blue dominates
    assert all(_hue_is(c, 0) for c in averages), averages  # red dominates
