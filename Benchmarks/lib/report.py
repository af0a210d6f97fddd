"""The outputs: the table on stdout, the JSON file, the PNG bar chart of the ratios."""

import json


def _number(value, unit):
    if value is None:
        return "-"
    if unit == "us" and value < 10:
        return "%.2f" % value
    if unit in ("records/s", "us", "count"):
        return "%.0f" % value
    if unit == "ratio":
        return "%.3f" % value
    if unit == "s":
        return "%.2f" % value
    return "%.1f" % value


def table(results, header):
    """Rows grouped by section; each section's columns are named after its two sides."""
    lines = [header, ""]
    section = None
    # A section whose rows differ in unit names the unit on each row instead of in its heading.
    mixed = {s for s in {r.section for r in results} if len({r.unit for r in results if r.section == s}) > 1}
    def label(r):
        return "%s (%s)" % (r.case, r.unit) if r.section in mixed else r.case
    width = max([len(label(r)) for r in results] + [24])
    for r in results:
        if r.section != section:
            section = r.section
            lines.append("")
            heading = "%s (median)" % section if section in mixed else "%s (%s, median)" % (section, r.unit)
            lines.append("%-*s  %14s  %14s  %7s" % (width, heading, r.a_label, r.b_label or "",
                                                    "ratio" if r.b_label else ""))
            lines.append("-" * (width + 43))
        if r.error:
            lines.append("%-*s  FAILED: %s" % (width, label(r), r.error.splitlines()[0]))
            continue
        ratio = "%.3f" % r.ratio if r.ratio is not None else ""
        lines.append("%-*s  %14s  %14s  %7s" % (width, label(r), _number(r.a_median, r.unit),
                                                _number(r.b_median, r.unit) if r.b_label else "", ratio))
        if r.failures:
            lines.append("%-*s    FAILED %d measurement(s): %s" % (width, "", len(r.failures),
                                                               r.failures[0].splitlines()[0][:160]))
        for note in r.notes:
            lines.append("%-*s    note: %s" % (width, "", note))
    return "\n".join(lines)


def write_json(path, meta, results):
    with open(path, "w") as f:
        json.dump({**meta, "results": [r.as_json() for r in results]}, f, indent=2)
        f.write("\n")


# Each section's bar colour, the prefix of its bars' labels, and its legend entry.
SECTIONS = {
    "throughput": ("#4c72b0", "", "throughput, Portcullis / OpenSSH (higher is better)"),
    "audit": ("#dd8452", "audit on/off: ", "throughput, Portcullis audit on / off (higher is better)"),
    "connection setup": ("#55a868", "setup: ", "connection setup latency, Portcullis / OpenSSH (lower is better)"),
    "idle load": ("#937860", "idle: ", "idle load, Portcullis / OpenSSH (lower is better)"),
    "pre-auth flood": ("#da8bc3", "pre-auth: ", "pre-auth flood, Portcullis / OpenSSH (lower is better)"),
    "scale": ("#c44e52", "scale: ", "scale, Portcullis / OpenSSH (lower is better)"),
    "cluster relay": ("#64b5cd", "relay: ", "cluster: relayed B->A / direct A (throughput: higher is better; open: lower)"),
    "cluster relayed vs sshd": ("#4c9fb0", "relayed/sshd: ", "cluster: relayed B->A / OpenSSH -L (higher is better)"),
    "cluster direct vs sshd": ("#2a6f7f", "direct/sshd: ", "cluster: direct A / OpenSSH -L (higher is better)"),
}


def write_chart(path, title, results):
    """A bar per row with a ratio (A/B: Portcullis/OpenSSH, audit on/off) and a line at 1.0."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in results if r.ratio is not None or (r.b_label and r.failures)]
    other = ("#8172b2", "", None)
    labels = [SECTIONS.get(r.section, other)[1] + r.case for r in rows]
    ratios = [r.ratio or 0.0 for r in rows]  # 0: every measurement of one side failed
    colours = [SECTIONS.get(r.section, other)[0] for r in rows]
    fig, ax = plt.subplots(figsize=(max(6, 0.55 * len(rows) + 2) + 3.5, 5.5), dpi=100)
    bars = ax.bar(range(len(rows)), ratios, color=colours)
    ax.axhline(1.0, color="black", linewidth=1)
    for bar, ratio, r in zip(bars, ratios, rows):
        if r.failures:
            bar.set_hatch("//")
        ax.annotate(("%.2f" % ratio if r.ratio else "no ratio") + ("\n%d failed" % len(r.failures) if r.failures else ""), (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=7, xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("ratio of medians")
    from matplotlib.patches import Patch
    present = [section for section in SECTIONS if any(r.section == section for r in rows)]
    ax.legend(handles=[Patch(color=SECTIONS[s][0], label=SECTIONS[s][2]) for s in present],
              fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_ylim(0, max(ratios + [1.0]) * 1.15)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
