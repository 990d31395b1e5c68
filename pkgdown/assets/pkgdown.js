/* The site's script, in place of pkgdown 2.0's pkgdown.js, which needs six
 * libraries from CDNs (bootstrap-toc, headroom, clipboard.js, fuse.js,
 * autocomplete.js, mark.js). This does the parts the site uses with Bootstrap 5
 * and the browser alone, so that the site works offline: the "On this page"
 * table of contents, copy buttons on code, and search over pkgdown's
 * search.json. Its markup reuses pkgdown's classes, so pkgdown's CSS styles it. */
(function () {
  "use strict";

  function headingTarget(heading) {
    var anchor = heading.querySelector("a.anchor");
    if (anchor) return anchor.getAttribute("href").slice(1);
    return heading.id || (heading.parentElement && heading.parentElement.id) || null;
  }

  function tocLink(heading) {
    var link = document.createElement("a");
    link.className = "nav-link";
    link.href = "#" + headingTarget(heading);
    link.textContent = heading.textContent.trim();
    return link;
  }

  function buildToc() {
    var toc = document.getElementById("toc");
    if (!toc) return;
    var headings = document.querySelectorAll("main h2, main h3");
    var top = document.createElement("ul");
    top.className = "nav nav-pills flex-column";
    var current = null;
    headings.forEach(function (heading) {
      if (heading.hasAttribute("data-toc-skip") || !headingTarget(heading)) return;
      var item = document.createElement("li");
      item.className = "nav-item";
      item.appendChild(tocLink(heading));
      if (heading.tagName === "H2" || !current) {
        top.appendChild(item);
        current = item;
      } else {
        var nested = current.querySelector("ul");
        if (!nested) {
          nested = document.createElement("ul");
          nested.className = "nav nav-pills flex-column";
          current.appendChild(nested);
        }
        nested.appendChild(item);
      }
    });
    if (!top.children.length) {
      toc.parentElement.removeChild(toc);
      return;
    }
    toc.appendChild(top);
    bootstrap.ScrollSpy.getOrCreateInstance(document.body, { target: "#toc" });
  }

  function addCopyButtons() {
    if (!navigator.clipboard) return;
    document.querySelectorAll("div.sourceCode").forEach(function (block) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "btn btn-primary btn-sm btn-copy-ex";
      button.title = "Copy to clipboard";
      button.textContent = "Copy";
      button.addEventListener("click", function () {
        var code = block.querySelector("pre").textContent.replace(/\n#>[^\n]*/g, "");
        navigator.clipboard.writeText(code).then(function () {
          button.textContent = "Copied";
          setTimeout(function () { button.textContent = "Copy"; }, 1500);
        });
      });
      block.classList.add("hasCopyButton");
      block.insertBefore(button, block.firstChild);
    });
  }

  /* Search: entries whose text holds every word of the query. */
  function matches(entry, words) {
    var text = [entry.title, entry.what, entry.previous_headings, entry.text, entry.code]
      .join(" ").toLowerCase();
    return words.every(function (word) { return text.indexOf(word) !== -1; });
  }

  function suggestion(entry, indexUrl) {
    var item = document.createElement("a");
    item.className = "aa-suggestion d-block text-decoration-none";
    // Paths in search.json start at the site's root, which is where the index is.
    var target = new URL(entry.path.replace(/^\//, ""), indexUrl);
    target.hash = entry.id || "";
    item.href = target.href;
    var title = document.createElement("div");
    title.className = "search-details";
    title.textContent = entry.title;
    item.appendChild(document.createTextNode(entry.dir + " > "));
    item.appendChild(title);
    var where = [entry.previous_headings, entry.title === entry.what ? "" : entry.what]
      .filter(Boolean).join(" > ");
    if (where) item.appendChild(document.createTextNode(" > " + where));
    return item;
  }

  function setUpSearch() {
    var input = document.getElementById("search-input");
    if (!input) return;
    var indexUrl = new URL(input.getAttribute("data-search-index"), window.location.href);
    var entries = null;
    var wrapper = document.createElement("span");
    wrapper.className = "algolia-autocomplete position-relative d-inline-block";
    input.parentElement.insertBefore(wrapper, input);
    wrapper.appendChild(input);
    var menu = document.createElement("div");
    menu.className = "aa-dropdown-menu position-absolute d-none";
    menu.style.zIndex = 1100;
    wrapper.appendChild(menu);

    function show() {
      var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
      menu.replaceChildren();
      if (!entries || input.value.trim().length < 2) {
        menu.classList.add("d-none");
        return;
      }
      var found = entries.filter(function (entry) { return matches(entry, words); }).slice(0, 20);
      found.forEach(function (entry) { menu.appendChild(suggestion(entry, indexUrl)); });
      if (!found.length) {
        var none = document.createElement("div");
        none.className = "aa-suggestion";
        none.textContent = "No results found.";
        menu.appendChild(none);
      }
      menu.classList.remove("d-none");
    }

    input.addEventListener("focus", function () {
      if (entries) return;
      fetch(indexUrl)
        .then(function (response) { return response.json(); })
        .then(function (data) { entries = data; show(); });
    });
    input.addEventListener("input", show);
    input.addEventListener("keydown", function (event) {
      var first = menu.querySelector("a.aa-suggestion");
      if (event.key === "Enter" && first) {
        event.preventDefault();
        window.location.href = first.href;
      } else if (event.key === "Escape") {
        menu.classList.add("d-none");
      }
    });
    input.form.addEventListener("submit", function (event) { event.preventDefault(); });
    document.addEventListener("click", function (event) {
      if (!wrapper.contains(event.target)) menu.classList.add("d-none");
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    buildToc();
    addCopyButtons();
    setUpSearch();
    document.querySelectorAll('[data-bs-toggle="tooltip"]').forEach(function (element) {
      bootstrap.Tooltip.getOrCreateInstance(element);
    });
  });
})();
