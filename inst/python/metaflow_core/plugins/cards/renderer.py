"""A card as one self-contained HTML page: inline CSS, images as ``data:`` URIs, no
script and nothing fetched, so it opens the same from a file, an e-mail or a
viewer with no network.

``render_card`` takes a ``CardPage`` (what the task knew when it finished) and
the card's components; a component that fails to render is replaced by its
error, shown where it would have been.
"""

import datetime
import html
import traceback

from .components import ErrorComponent, artifact_preview, format_size

CARD_TYPES = ("default", "blank")

STYLE = """
:root{--accent:#3b5bdb;--ink:#1f2430;--muted:#667085;--line:#e4e7ec;--soft:#f7f8fa;
--ok:#2f9e5b;--bad:#d64545}
*{box-sizing:border-box}
body{margin:0;background:#eef0f4;color:var(--ink);font:15px/1.55 -apple-system,"Segoe UI",
Roboto,"Helvetica Neue",Arial,"Noto Sans","Liberation Sans",sans-serif}
main{max-width:980px;margin:24px auto;background:#fff;border-radius:12px;
box-shadow:0 1px 3px rgba(16,24,40,.08),0 8px 24px rgba(16,24,40,.06);overflow:hidden}
header{padding:22px 28px 18px;border-bottom:1px solid var(--line);
background:linear-gradient(180deg,#f9faff,#fff)}
header .kicker{font-size:12px;letter-spacing:.08em;text-transform:uppercase;color:var(--muted)}
header h1{margin:2px 0 6px;font-size:24px;line-height:1.25}
header .path{font-family:ui-monospace,"SFMono-Regular",Menlo,Consolas,"Liberation Mono",monospace;
font-size:13px;color:var(--muted);word-break:break-all}
.badge{display:inline-block;padding:2px 10px;border-radius:999px;font-size:12px;font-weight:600;
vertical-align:middle;margin-left:8px}
.badge.ok{background:#e7f6ec;color:#1d5e37}.badge.failed{background:#fdeaea;color:#8a1f1f}
.facts{display:flex;flex-wrap:wrap;gap:10px 28px;margin-top:12px;font-size:13px}
.facts div span{display:block;color:var(--muted);font-size:11px;text-transform:uppercase;
letter-spacing:.06em}
section{padding:18px 28px;border-bottom:1px solid var(--line)}
section:last-child{border-bottom:0}
h2{font-size:13px;text-transform:uppercase;letter-spacing:.08em;color:var(--muted);margin:0 0 12px}
.mf-markdown h1,.mf-markdown h2,.mf-markdown h3{color:var(--ink);text-transform:none;
letter-spacing:0;margin:14px 0 6px}
.mf-markdown h1{font-size:22px}.mf-markdown h2{font-size:18px}.mf-markdown h3{font-size:16px}
.mf-markdown p{margin:6px 0}
code,pre{font-family:ui-monospace,"SFMono-Regular",Menlo,Consolas,"Liberation Mono",monospace;
font-size:13px}
:not(pre)>code{background:var(--soft);padding:1px 5px;border-radius:4px}
pre{background:var(--soft);border:1px solid var(--line);border-radius:8px;padding:10px 12px;
overflow:auto;margin:6px 0;white-space:pre-wrap}
.mf-component{margin:0 0 18px}.mf-component:last-child{margin-bottom:0}
.mf-table-wrap{overflow-x:auto}
.mf-table{border-collapse:collapse;min-width:50%;font-size:13.5px}
.mf-table.mf-wide{width:100%}
.mf-table th.mf-num{text-align:right}
.mf-table th{text-align:left;font-weight:600;background:var(--soft);border-bottom:2px solid var(--line);
padding:7px 10px;white-space:nowrap}
.mf-table td{padding:6px 10px;border-bottom:1px solid var(--line);vertical-align:top}
.mf-table tbody tr:nth-child(even){background:#fbfbfd}
.mf-table td.mf-num{text-align:right;font-variant-numeric:tabular-nums}
.mf-na{color:var(--muted);font-style:italic}
.mf-table td pre{margin:0;padding:4px 8px;max-height:9em;overflow:hidden;font-size:12px}
.mf-page-radio{display:none}.mf-page{display:none}
.mf-pager{margin-top:8px;font-size:13px;color:var(--muted)}
.mf-pager label{display:inline-block;min-width:26px;text-align:center;padding:2px 6px;margin:0 2px;
border:1px solid var(--line);border-radius:6px;cursor:pointer;color:var(--ink)}
.mf-note{font-size:12px;color:var(--muted)}
.mf-image{margin:0;text-align:center}
.mf-image img{max-width:100%;height:auto;border:1px solid var(--line);border-radius:8px}
.mf-image figcaption{font-size:13px;color:var(--muted);margin-top:4px}
.mf-error{border:1px solid #f3b4b4;background:#fff5f5;border-radius:8px;padding:10px 14px;color:#8a1f1f}
.mf-error p{margin:4px 0}.mf-error pre{background:#fff;border-color:#f3d0d0}
.mf-artifact-head{margin-bottom:4px}
.mf-muted{color:var(--muted);font-size:12.5px}
.mf-graph{display:block;margin:0 auto;max-width:100%;height:auto;
font-family:-apple-system,"Segoe UI",Roboto,Arial,"Liberation Sans",sans-serif}
.legend{font-size:12px;color:var(--muted);text-align:center;margin-top:8px}
.legend i{display:inline-block;width:10px;height:10px;border-radius:3px;margin:0 4px 0 12px;
vertical-align:-1px}
footer{padding:12px 28px;font-size:12px;color:var(--muted);background:var(--soft)}
"""


class CardPage(object):
    """What a card shows of its task besides the components."""

    def __init__(self, pathspec, attempt, ok, started_at, finished_at, parameters, task,
                 artifact_names, graph_svg, error_record):
        self.pathspec = pathspec
        self.attempt = attempt
        self.ok = ok
        self.started_at = started_at
        self.finished_at = finished_at
        self.parameters = parameters
        self.task = task
        self.artifact_names = artifact_names
        self.graph_svg = graph_svg
        self.error_record = error_record


def render_card(card_type, card_id, page, components, notes=()):
    """The card's HTML; ``notes`` are errors of the card itself, shown at its top."""
    flow, run_id, step, task_id = page.pathspec.split("/")
    title = card_id or step
    status = "ok" if page.ok else "failed"
    sections = []
    if notes:
        sections.append(_section("Card errors", "".join(
            ErrorComponent(n).render(page.task) for n in notes)))
    if card_type == "default" and page.error_record:
        record = page.error_record
        sections.append(_section("Error", ErrorComponent(
            record.get("message") or "The task failed.", record.get("traceback")).render(None)))
    if components:
        sections.append(_section("Report" if card_type == "default" else "",
                                 "".join(_component(c, page.task) for c in components)))
    if card_type == "default":
        if page.parameters:
            sections.append(_section("Parameters", _key_values(page.parameters)))
        sections.append(_section("Artifacts", _artifacts(page)))
        if page.graph_svg:
            sections.append(_section("Flow", page.graph_svg + _LEGEND))
    started = _time(page.started_at)
    facts = [("Flow", flow), ("Run", run_id), ("Step", step), ("Task", task_id),
             ("Attempt", str(page.attempt))]
    if started:
        facts += [("Started", started), ("Duration", _duration(page))]
    return _PAGE % {
        "title": html.escape("%s \u00b7 %s" % (title, page.pathspec)),
        "style": STYLE,
        "kicker": html.escape("Metaflow card" + (" \u00b7 %s" % card_id if card_id else "")),
        "heading": html.escape(step),
        "status": status,
        "status_text": "succeeded" if page.ok else "failed",
        "path": html.escape(page.pathspec),
        "facts": "".join('<div><span>%s</span>%s</div>' % (k, html.escape(v)) for k, v in facts),
        "sections": "".join(sections),
        "made": _time(page.finished_at) or "",
    }


def error_card(card_type, card_id, page, message):
    """The card left when rendering itself failed: the page with the error and no components."""
    return render_card(card_type, card_id, page, [], notes=[message])


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>%(title)s</title><style>%(style)s</style></head>
<body><main>
<header><div class="kicker">%(kicker)s</div>
<h1>%(heading)s<span class="badge %(status)s">%(status_text)s</span></h1>
<div class="path">%(path)s</div><div class="facts">%(facts)s</div></header>
%(sections)s
<footer>Rendered by metaflow_core at %(made)s</footer>
</main></body></html>
"""

_LEGEND = ('<div class="legend"><i style="background:#2f9e5b"></i>done'
           '<i style="background:#e0a526"></i>running<i style="background:#d64545"></i>failed'
           '<i style="background:#b8bec8"></i>not started</div>')


def _section(title, body):
    heading = "<h2>%s</h2>" % html.escape(title) if title else ""
    return "<section>%s%s</section>" % (heading, body)


def _component(component, task):
    try:
        inner = component.render(task)
    except Exception as err:
        inner = ErrorComponent(
            "%s could not be rendered: %s" % (type(component).__name__, err),
            traceback.format_exc(limit=3)).render(task)
    return '<div class="mf-component">%s</div>' % inner


def _key_values(values):
    rows = "".join("<tr><td><code>%s</code></td><td>%s</td></tr>"
                   % (html.escape(k), html.escape(v)) for k, v in values.items())
    return ('<div class="mf-table-wrap"><table class="mf-table mf-wide"><thead><tr><th>Name</th>'
            "<th>Value</th></tr></thead><tbody>%s</tbody></table></div>" % rows)


def _artifacts(page):
    task = page.task
    if not page.artifact_names:
        return '<p class="mf-muted">This task has no artifacts.</p>'
    rows = []
    for name in page.artifact_names:
        info = task.info[name]
        preview = artifact_preview(task, name)
        rows.append('<tr><td><code>%s</code></td><td>%s</td><td class="mf-num">%s</td>'
                    '<td><pre>%s</pre></td></tr>'
                    % (html.escape(name), html.escape(info["type"]), format_size(info["size"]),
                       html.escape(preview)))
    return ('<div class="mf-table-wrap"><table class="mf-table mf-wide"><thead><tr><th>Name</th>'
            "<th>Type</th><th>Size</th><th>Preview</th></tr></thead><tbody>%s</tbody></table>"
            "</div>" % "".join(rows))


def _time(epoch):
    if not epoch:
        return None
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M:%S UTC")


def _duration(page):
    seconds = max(0.0, (page.finished_at or page.started_at) - page.started_at)
    if seconds < 60:
        return "%.1f s" % seconds
    return "%d min %d s" % (seconds // 60, seconds % 60)
