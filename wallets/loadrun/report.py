"""A run's report on disk: report.json, PNG charts and report.html; and comparing two.

Pure Python plus matplotlib (drawn off-screen): it reads and writes only the report dict.
"""

import html
import json
from pathlib import Path

CHARTS = {
    "throughput.png": "Throughput over time",
    "latency.png": "Submit to settled latency",
    "backlog.png": "Backlog (transfers received, not yet decided)",
    "rejections.png": "Rejections over time, by code",
    "memory.png": "Memory (RSS) of each process over time",
}


def write_report(folder: Path, report: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    report["charts"] = draw_charts(folder, report)
    (folder / "report.json").write_text(json.dumps(report, indent=2, sort_keys=False) + "\n")
    (folder / "report.html").write_text(render_html(report))
    return folder


def load_report(path: str | Path) -> dict:
    path = Path(path)
    if path.is_dir():
        path = path / "report.json"
    return json.loads(path.read_text())


def draw_charts(folder: Path, report: dict) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = report["series"]
    step = series["interval_s"]
    seconds = [i * step for i in range(len(series["decided"]))]
    drawn = []

    def save(fig, name):
        fig.tight_layout()
        fig.savefig(folder / name, dpi=80)
        plt.close(fig)
        drawn.append(name)

    fig, ax = plt.subplots(figsize=(8, 3.6))
    submitted = (series["submitted"] + [0] * len(seconds))[: len(seconds)]
    ax.step(seconds, [n / step for n in submitted], where="post", label="accepted")
    decided = [n / step for n in series["decided"]]
    ax.step(seconds, decided, where="post", label="settled + rejected")
    if series.get("offered"):
        offered = series["offered"]
        ax.step(
            [t for t, _ in offered],
            [r for _, r in offered],
            where="post",
            linestyle="--",
            color="grey",
            label="offered",
        )
    ax.set_xlabel("seconds since start")
    ax.set_ylabel("transfers/s")
    ax.set_title(CHARTS["throughput.png"])
    ax.legend(loc="best")
    save(fig, "throughput.png")

    fig, ax = plt.subplots(figsize=(8, 3.6))
    latencies = series.get("latency_histogram_ms") or []
    if latencies:
        edges, counts = zip(*latencies, strict=True)
        width = (edges[1] - edges[0]) if len(edges) > 1 else 1.0
        ax.bar(edges, counts, width=width, align="edge", color="tab:blue")
    summary = report["latency_ms"]["submit_to_settled"]
    for name, style in (("p50", ":"), ("p95", "--"), ("p99", "-")):
        if summary.get(name) is not None:
            ax.axvline(
                summary[name],
                color="tab:red",
                linestyle=style,
                label=f"{name} {summary[name]:,.0f} ms",
            )
    ax.set_xlabel("milliseconds from submit to settled")
    ax.set_ylabel("transfers")
    ax.set_title(CHARTS["latency.png"])
    if summary.get("p50") is not None:
        ax.legend(loc="best")
    save(fig, "latency.png")

    fig, ax = plt.subplots(figsize=(8, 3.6))
    backlog = series.get("backlog") or []
    if backlog:
        ax.plot([t for t, _ in backlog], [n for _, n in backlog], color="tab:orange")
    ax.set_xlabel("seconds since start")
    ax.set_ylabel("transfers waiting")
    ax.set_title(CHARTS["backlog.png"])
    save(fig, "backlog.png")

    fig, ax = plt.subplots(figsize=(8, 3.6))
    bottom = [0] * len(seconds)
    for code, counts in sorted(series.get("rejected_by_code", {}).items()):
        counts = (counts + [0] * len(seconds))[: len(seconds)]
        ax.bar(seconds, counts, bottom=bottom, width=step, align="edge", label=code)
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    ax.set_xlabel("seconds since start")
    ax.set_ylabel(f"rejections per {step:g} s")
    ax.set_title(CHARTS["rejections.png"])
    if series.get("rejected_by_code"):
        ax.legend(loc="best", fontsize="small")
    save(fig, "rejections.png")

    followed = [p for p in report.get("processes", []) if p.get("rss_over_time_kb")]
    if followed:
        fig, ax = plt.subplots(figsize=(8, 3.6))
        for process in followed:
            points = process["rss_over_time_kb"]
            ax.plot(
                [t for t, _ in points],
                [kb / 1024 for _, kb in points],
                label=f"{process['name']} ({process['pid']})",
            )
        ax.set_xlabel("seconds since start")
        ax.set_ylabel("RSS, MiB")
        ax.set_ylim(bottom=0)
        ax.set_title(CHARTS["memory.png"])
        ax.legend(loc="lower right", fontsize="x-small", ncol=2)
        save(fig, "memory.png")
    return drawn


def _fmt(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def headline(report: dict) -> list[tuple[str, object]]:
    """The figures a reader compares first, as (label, value) rows."""
    latency = report["latency_ms"]["submit_to_settled"]
    # Reports from before offer times were kept have no such key; in-process runs, None.
    from_offer = report["latency_ms"].get("offered_to_settled") or {}
    batches = report.get("http_batches") or {}
    transfers = report["transfers"]
    return [
        ("scenario", report["scenario"]["name"]),
        ("via", report["options"]["via"]),
        ("HTTP payments per request, at most", report["options"].get("http_batch")),
        ("HTTP payments per batch, mean", batches.get("mean_payments")),
        ("settlement", report["options"]["settlement"]),
        ("database", report["machine"].get("database")),
        ("transfers offered", transfers["offered"]),
        ("accepted", transfers["accepted"]),
        ("of which QR payments", (transfers.get("accepted_by_kind") or {}).get("qr")),
        ("of which refunds", (transfers.get("accepted_by_kind") or {}).get("refund")),
        ("settled", transfers["settled"]),
        ("rejected", transfers["rejected"]),
        ("offered tps", report["offered_tps"]),
        ("submitted tps", report["submitted_tps"]),
        ("achieved tps", report["achieved_tps"]),
        ("settlement tps", report["settlement_tps"]),
        ("pgbench tps, same sitting", (report.get("pgbench") or {}).get("tps")),
        ("settlement / pgbench", report.get("settlement_to_pgbench")),
        ("latency p50 ms", latency.get("p50")),
        ("latency p95 ms", latency.get("p95")),
        ("latency p99 ms", latency.get("p99")),
        ("latency max ms", latency.get("max")),
        ("offered->settled p50 ms", from_offer.get("p50")),
        ("offered->settled p95 ms", from_offer.get("p95")),
        ("offered->settled p99 ms", from_offer.get("p99")),
        ("offered->settled max ms", from_offer.get("max")),
        ("wall seconds", report["seconds"]["run"]),
        ("machine CPU µs per transfer", (report.get("cpu") or {}).get("per_transfer_us")),
        ("cores busy, mean", (report.get("cpu") or {}).get("busy_cores")),
        *(
            (f"CPU µs per transfer: {part}", us)
            for part, us in ((report.get("cpu") or {}).get("per_transfer_us_by_part") or {}).items()
        ),
        ("checks", "all ok" if all(c["ok"] for c in report["checks"].values()) else "FAILED"),
        ("load average at start", report["machine"].get("load_start")),
    ]


def render_html(report: dict) -> str:
    def table(rows, head=None):
        out = ["<table>"]
        if head:
            out.append("<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>")
        for row in rows:
            out.append("<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>")
        out.append("</table>")
        return "\n".join(out)

    checks = [
        (
            name,
            "ok" if c["ok"] else "FAILED",
            ", ".join(f"{k}={v}" for k, v in c.items() if k != "ok"),
        )
        for name, c in report["checks"].items()
    ]
    phases = [(p["name"], p["count"], p["rate"], p["kind"]) for p in report["scenario"]["timeline"]]
    rejections = sorted(report["rejections"].items(), key=lambda item: -item[1])
    processes = [
        (p["name"], p["pid"], p.get("rss_start_kb"), p.get("rss_end_kb"), p.get("rss_max_kb"))
        for p in report.get("processes", [])
    ]
    charts = "\n".join(
        f'<figure><img src="{name}" alt="{html.escape(CHARTS[name])}">'
        f"<figcaption>{html.escape(CHARTS[name])}</figcaption></figure>"
        for name in report.get("charts", [])
    )
    machine = sorted(report["machine"].items())
    title = f"Load run {report['run']}: {report['scenario']['name']}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 900px; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}
td, th {{ border: 1px solid #ccc; padding: 2px 8px; text-align: left; }}
figure {{ margin: 1em 0; }} img {{ max-width: 100%; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>{html.escape(report["scenario"]["description"])}.
Started {html.escape(report["started_at"])};
command <code>{html.escape(report["command"])}</code>.</p>
<h2>Figures</h2>
{table(headline(report))}
<p>Latency (<em>latency</em>, the chart): from the transfer's <code>created_at</code>, when the
server inserted it, to the commit of the batch that decided it (its batch's
<code>BatchCommit</code>; its <code>decided_at</code>, taken before the batch writes, where no
commit was noted). <em>offered-&gt;settled</em> (HTTP runs only): from when the driver offered
the payment (its due time; without a rate, when a client took it up) to that same
commit, so it also counts any wait before the
server took it: in a client behind schedule, in a gateway's batch filling, in the
server's queue.</p>
<h2>Checks</h2>
{table(checks, ["check", "result", "details"])}
<h2>Charts</h2>
{charts}
<h2>Phases</h2>
{table(phases, ["phase", "transfers", "offered/s", "kind"])}
<h2>Rejections by code</h2>
{table(rejections, ["code", "transfers"])}
<h2>Population</h2>
{table(sorted(report["population"].items()))}
<h2>Processes (RSS, KiB)</h2>
{table(processes, ["process", "pid", "start", "end", "max"])}
<h2>Machine</h2>
{table(machine)}
</body></html>
"""


def compare(a: dict, b: dict) -> str:
    """Two runs side by side, with B's change against A where both are numbers."""
    rows = []
    first, second = dict(headline(a)), dict(headline(b))
    width = max(len(label) for label in first)
    rows.append(f"{'':<{width}}  {'A: ' + a['run']:>22}  {'B: ' + b['run']:>22}  {'B/A':>7}")
    # A's rows, then any only B has (a figure added after A was run).
    for label in [*first, *(label for label in second if label not in first)]:
        x, y = first.get(label), second.get(label)
        ratio = ""
        if isinstance(x, int | float) and isinstance(y, int | float) and x and y is not None:
            ratio = f"{y / x:.2f}x"
        rows.append(f"{label:<{width}}  {_fmt(x):>22}  {_fmt(y):>22}  {ratio:>7}")
    return "\n".join(rows)
