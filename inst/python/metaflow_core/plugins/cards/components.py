"""What a step puts in a card: ``Markdown``, ``Table``, ``Image``, ``Artifact``.

Each component turns itself into an HTML fragment with ``render(task)``, where
``task`` is the finished task (a ``CardTask``) (``Artifact`` reads its value from
it). Everything is escaped here, so no text a step appends becomes markup, and
images become ``data:`` URIs, so a card needs nothing but its own file.
"""

import base64
import html
import math
import numbers
import re

from ...exceptions import CardError

# A table longer than this is shown in pages of this many rows, switched with
# radio buttons and CSS alone: a card runs no script.
TABLE_PAGE_ROWS = 15
# At most this many rows are stored; the card says how many were left out.
TABLE_MAX_ROWS = 1000
PREVIEW_CHARS = 300

_PNG = b"\x89PNG\r\n\x1a\n"


class CardComponent(object):
    """The base of what ``current.card.append()`` takes."""

    def render(self, task):
        raise NotImplementedError


class Markdown(CardComponent):
    """Text in Markdown: headings, paragraphs, lists, code, emphasis, links."""

    def __init__(self, text):
        self.text = str(text)

    def render(self, task):
        return '<div class="mf-markdown">%s</div>' % markdown_html(self.text)


class Table(CardComponent):
    """A table from rows (lists of cells) and ``headers``; a pandas data frame too.

    ``digits`` rounds floating-point cells to that many significant digits.
    """

    def __init__(self, data=None, headers=None, digits=None):
        if hasattr(data, "columns") and hasattr(data, "itertuples"):
            headers = [str(c) for c in data.columns] if headers is None else headers
            data = [list(row) for row in data.itertuples(index=False)]
        self.rows = [list(row) for row in (data or [])]
        self.headers = [str(h) for h in (headers or [])]
        self.digits = digits

    def _cell(self, value):
        if isinstance(value, CardComponent):
            return value.render(None)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return '<span class="mf-na">NA</span>'
        if (self.digits is not None and isinstance(value, numbers.Real)
                and not isinstance(value, (bool, numbers.Integral))):
            value = "%.*g" % (int(self.digits), value)
        return html.escape(str(value))

    def render(self, task):
        rows = self.rows[:TABLE_MAX_ROWS]
        numeric = [all(_is_number(r[i]) for r in rows if i < len(r) and r[i] is not None)
                   for i in range(len(self.headers))]
        head = "".join('<th class="%s">%s</th>' % ("mf-num" if n else "mf-text", html.escape(h))
                       for h, n in zip(self.headers, numeric))
        body = ["<tr>%s</tr>" % "".join(
            '<td class="%s">%s</td>' % ("mf-num" if _is_number(c) else "mf-text", self._cell(c))
            for c in row) for row in rows]
        pages = [body[i:i + TABLE_PAGE_ROWS] for i in range(0, len(body), TABLE_PAGE_ROWS)] or [[]]
        note = ""
        if len(self.rows) > len(rows):
            note = ('<p class="mf-note">Showing the first %d of %d rows.</p>'
                    % (len(rows), len(self.rows)))
        table = '<table class="mf-table">%s<tbody>%s</tbody></table>'
        thead = "<thead><tr>%s</tr></thead>" % head if head else ""
        if len(pages) == 1:
            return '<div class="mf-table-wrap">%s</div>%s' % (table % (thead, "".join(pages[0])), note)
        return _paged("mf-pager-%x" % id(self), table, thead, pages) + note


def _paged(group, table, thead, pages):
    """Pages switched by radio buttons: the rules in the fragment's own style show
    the page whose button is checked and mark its label."""
    rules = "".join(
        "#%s-%d:checked~.%s-%d{display:block}"
        "#%s-%d:checked~.mf-pager label[for=%s-%d]{background:var(--accent);color:#fff}"
        % ((group, i) * 4) for i in range(len(pages)))
    parts = ['<div class="mf-paged"><style>%s</style>' % rules]
    for i in range(len(pages)):
        parts.append('<input type="radio" class="mf-page-radio" name="%s" id="%s-%d"%s>'
                     % (group, group, i, " checked" if i == 0 else ""))
    for i, page in enumerate(pages):
        parts.append('<div class="mf-page %s-%d mf-table-wrap">%s</div>'
                     % (group, i, table % (thead, "".join(page))))
    parts.append('<div class="mf-pager">Page ')
    for i in range(len(pages)):
        parts.append('<label for="%s-%d">%d</label>' % (group, i, i + 1))
    parts.append("</div></div>")
    return "".join(parts)


def _is_number(value):
    return isinstance(value, numbers.Number) and not isinstance(value, bool)


class Image(CardComponent):
    """A PNG, JPEG, GIF or SVG image: its bytes (``src``) or a file's path (``path``)."""

    def __init__(self, src=None, label=None, path=None):
        if path is not None:
            try:
                with open(path, "rb") as f:
                    src = f.read()
            except OSError as err:
                raise CardError("Can't read the card image %s: %s." % (path, err.strerror))
        if not isinstance(src, (bytes, bytearray)):
            raise CardError("Image() takes an image's bytes or the path= of an image file, "
                            "not %s." % type(src).__name__)
        self.data = bytes(src)
        self.mime = image_type(self.data)
        self.label = label

    def render(self, task):
        uri = "data:%s;base64,%s" % (self.mime, base64.b64encode(self.data).decode("ascii"))
        caption = ("<figcaption>%s</figcaption>" % html.escape(self.label)) if self.label else ""
        alt = html.escape(self.label or "image")
        return '<figure class="mf-image"><img src="%s" alt="%s">%s</figure>' % (uri, alt, caption)


def image_type(data):
    """The MIME type of an image's bytes; bytes of no image type a card shows are an error."""
    if data.startswith(_PNG):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    head = data[:512].lstrip()
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in data[:2048]):
        return "image/svg+xml"
    raise CardError("The card image is not a PNG, JPEG, GIF or SVG image.")


class Artifact(CardComponent):
    """An artifact of the task, by name, shown with its type and a short preview."""

    def __init__(self, name, label=None):
        self.name = str(name)
        self.label = label

    def render(self, task):
        if task is None or self.name not in task:
            raise CardError("The task has no artifact *%s* to show." % self.name)
        info = task.info[self.name]
        preview = artifact_preview(task, self.name)
        return ('<div class="mf-artifact"><div class="mf-artifact-head"><code>%s</code> '
                '<span class="mf-muted">%s, %s</span></div><pre>%s</pre></div>'
                % (html.escape(self.label or self.name), html.escape(info["type"]),
                   format_size(info["size"]), html.escape(preview)))


class ErrorComponent(CardComponent):
    """What stands in a card for a component that failed: the error, shown."""

    def __init__(self, message, detail=None):
        self.message = str(message)
        self.detail = detail

    def render(self, task):
        detail = "<pre>%s</pre>" % html.escape(self.detail) if self.detail else ""
        return ('<div class="mf-error"><strong>Card component error</strong><p>%s</p>%s</div>'
                % (html.escape(self.message.replace("*", "")), detail))


class CardTask(object):
    """The finished task as components see it: its datastore and the previews its
    front end made of values Python can't show (R's ``str()``)."""

    def __init__(self, datastore, previews=None):
        self.datastore = datastore
        self.previews = previews or {}

    @property
    def info(self):
        return self.datastore.info

    def __contains__(self, name):
        return name in self.datastore

    def load_object(self, name):
        return self.datastore.load_object(name)


def artifact_preview(task, name):
    """A short text of an artifact's value: the front end's preview, else ``repr()``;
    only values small enough to read quickly are read."""
    if name in task.previews:
        return task.previews[name]
    info = task.info[name]
    if info["size"] > 1 << 20:
        return "(not read: %s)" % format_size(info["size"])
    if info["encoding"] != "pickle":
        return "(%s)" % info["type"]
    try:
        text = repr(task.load_object(name))
    except Exception as err:
        return "(can't read: %s)" % err
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS - 1] + "\u2026"


def format_size(size):
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return ("%d %s" % (size, unit)) if unit == "bytes" else "%.1f %s" % (size, unit)
        size /= 1024.0


# Markdown: the common block and inline forms, all text escaped first.
_INLINE = [
    (re.compile(r"\*\*([^*]+)\*\*"), r"<strong>\1</strong>"),
    (re.compile(r"(?<![\w*])\*([^*\s][^*]*)\*(?!\w)"), r"<em>\1</em>"),
    (re.compile(r"(?<!\w)_([^_\s][^_]*)_(?!\w)"), r"<em>\1</em>"),
]
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")


def _inline(text):
    text = html.escape(text, quote=False)
    codes = []

    def keep_code(match):
        codes.append(match.group(1))
        return "\x00%d\x00" % (len(codes) - 1)

    text = re.sub(r"`([^`]+)`", keep_code, text)
    for pattern, replacement in _INLINE:
        text = pattern.sub(replacement, text)
    # The text is escaped already, but for quotes, which would end the attribute.
    text = _LINK.sub(lambda m: '<a href="%s">%s</a>' % (
        m.group(2).replace('"', "&quot;") if re.match(r"(https?:|mailto:|#)", m.group(2))
        else "#", m.group(1)), text)
    return re.sub("\x00(\\d+)\x00", lambda m: "<code>%s</code>" % codes[int(m.group(1))], text)


def markdown_html(text):
    out, para, items, code = [], [], None, None
    list_tag = None

    def flush():
        nonlocal para, items, list_tag
        if para:
            out.append("<p>%s</p>" % _inline(" ".join(para)))
            para = []
        if items is not None:
            out.append("<%s>%s</%s>" % (list_tag, "".join("<li>%s</li>" % _inline(i) for i in items),
                                        list_tag))
            items, list_tag = None, None

    for line in text.splitlines():
        if code is not None:
            if line.strip().startswith("```"):
                out.append("<pre><code>%s</code></pre>" % html.escape("\n".join(code)))
                code = None
            else:
                code.append(line)
            continue
        stripped = line.strip()
        heading = re.match(r"(#{1,6})\s+(.*)", stripped)
        bullet = re.match(r"[-*+]\s+(.*)", stripped)
        numbered = re.match(r"\d+[.)]\s+(.*)", stripped)
        if stripped.startswith("```"):
            flush()
            code = []
        elif not stripped:
            flush()
        elif heading:
            flush()
            level = len(heading.group(1))
            out.append("<h%d>%s</h%d>" % (level, _inline(heading.group(2)), level))
        elif bullet or numbered:
            tag = "ul" if bullet else "ol"
            if para or (items is not None and list_tag != tag):
                flush()
            if items is None:
                items, list_tag = [], tag
            items.append((bullet or numbered).group(1))
        elif items is not None and line.startswith(" "):
            items[-1] += " " + stripped
        else:
            if items is not None:
                flush()
            para.append(stripped)
    if code is not None:
        out.append("<pre><code>%s</code></pre>" % html.escape("\n".join(code)))
    flush()
    return "\n".join(out)
