"""The flow's graph as an inline SVG: steps in layers from ``start`` down to
``end``, each coloured by how its tasks in the run are doing, the card's own
step outlined. Laid out here (longest path from start gives the layer), so a
card needs no graph tool."""

import html

from ...exceptions import MetaflowException

NODE_W, NODE_H = 150, 40
GAP_X, GAP_Y = 28, 46
MARGIN = 12

# status -> (fill, stroke, text)
COLOURS = {
    "ok": ("#e7f6ec", "#2f9e5b", "#1d5e37"),
    "failed": ("#fdeaea", "#d64545", "#8a1f1f"),
    "running": ("#fff6e0", "#e0a526", "#7a5500"),
    "pending": ("#f3f4f6", "#b8bec8", "#5b6270"),
}


def layers(graph):
    """Step names by layer: a step sits one below the lowest of its parents."""
    depth, order = {}, []

    def visit(name, d):
        if depth.get(name, -1) >= d:
            return
        if name not in depth:
            order.append(name)
        depth[name] = d
        for child in graph[name].out_funcs:
            if child in graph:
                visit(child, d + 1)

    if "start" in graph:
        visit("start", 0)
    for node in graph:
        if node.name not in depth:
            visit(node.name, 0)
    rows = [[] for _ in range(max(depth.values()) + 1)] if depth else []
    for name in order:
        rows[depth[name]].append(name)
    return rows


def graph_svg(graph, statuses, highlight=None):
    """``statuses``: step -> (status, label) with status one of COLOURS' keys."""
    rows = layers(graph)
    widest = max((len(r) for r in rows), default=1)
    width = 2 * MARGIN + widest * NODE_W + (widest - 1) * GAP_X
    height = 2 * MARGIN + len(rows) * NODE_H + max(len(rows) - 1, 0) * GAP_Y
    where = {}
    for r, row in enumerate(rows):
        row_w = len(row) * NODE_W + (len(row) - 1) * GAP_X
        x0 = (width - row_w) / 2.0
        for i, name in enumerate(row):
            where[name] = (x0 + i * (NODE_W + GAP_X), MARGIN + r * (NODE_H + GAP_Y))
    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg" class="mf-graph" role="img" '
        'aria-label="The flow\'s graph" viewBox="0 0 %d %d" width="%d" height="%d">'
        % (width, height, width, height),
        '<defs><marker id="mf-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" '
        'fill="#8a93a3"/></marker></defs>',
    ]
    for node in graph:
        for child in node.out_funcs:
            if node.name in where and child in where:
                parts.append(_edge(where[node.name], where[child], node.type == "foreach"))
    for name, (x, y) in where.items():
        parts.append(_node(name, x, y, statuses.get(name, ("pending", "")), name == highlight))
    parts.append("</svg>")
    return "".join(parts)


def _edge(start, end, foreach):
    x1, y1 = start[0] + NODE_W / 2.0, start[1] + NODE_H
    x2, y2 = end[0] + NODE_W / 2.0, end[1] - 2
    mid = (y1 + y2) / 2.0
    dash = ' stroke-dasharray="5 4"' if foreach else ""
    return ('<path d="M%.1f,%.1f C%.1f,%.1f %.1f,%.1f %.1f,%.1f" fill="none" stroke="#8a93a3" '
            'stroke-width="1.5"%s marker-end="url(#mf-arrow)"/>'
            % (x1, y1, x1, mid, x2, mid, x2, y2, dash))


def _node(name, x, y, status, highlighted):
    kind, label = status
    fill, stroke, text = COLOURS.get(kind, COLOURS["pending"])
    title = "%s: %s%s" % (name, kind, (" (%s)" % label) if label else "")
    shown = name if len(name) <= 18 else name[:17] + "\u2026"
    ring = ""
    if highlighted:
        ring = ('<rect x="%.1f" y="%.1f" width="%d" height="%d" rx="11" fill="none" '
                'stroke="#3b5bdb" stroke-width="3"/>' % (x - 4, y - 4, NODE_W + 8, NODE_H + 8))
    sub = ('<text x="%.1f" y="%.1f" text-anchor="middle" font-size="10" fill="%s">%s</text>'
           % (x + NODE_W / 2.0, y + 32, text, html.escape(label))) if label else ""
    return ('<g><title>%s</title>%s<rect x="%.1f" y="%.1f" width="%d" height="%d" rx="8" '
            'fill="%s" stroke="%s" stroke-width="1.5"/><text x="%.1f" y="%.1f" '
            'text-anchor="middle" font-size="13" font-weight="600" fill="%s">%s</text>%s</g>'
            % (html.escape(title), ring, x, y, NODE_W, NODE_H, fill, stroke, x + NODE_W / 2.0,
               y + (19 if label else 25), text, html.escape(shown), sub))


def step_statuses(flow_datastore, run_id, graph, own_step, own_task, own_ok):
    """step -> (status, "done/total") from the run's tasks as the datastore has them
    now; the rendering task counts with its own outcome."""
    statuses = {}
    for node in graph:
        ok = failed = running = 0
        for task_id in flow_datastore.task_ids(run_id, node.name):
            if (node.name, task_id) == (own_step, own_task):
                control = {"task_ok": own_ok}
            else:
                try:
                    control = flow_datastore.task(run_id, node.name, task_id).control
                except MetaflowException:
                    # No completed attempt yet, or a damaged record: not done.
                    control = None
            if control is None:
                running += 1
            elif control.get("task_ok"):
                ok += 1
            else:
                failed += 1
        total = ok + failed + running
        if total == 0:
            statuses[node.name] = ("pending", "")
            continue
        kind = "failed" if failed else "running" if running else "ok"
        label = "%d/%d done" % (ok, total) + (", %d failed" % failed if failed else "")
        statuses[node.name] = (kind, label if total > 1 else "")
    return statuses
