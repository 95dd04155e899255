/* The page's script (inlined by harness.report.page; no network, no external code).
 *
 * 1. Sortable and filterable HTML tables (the summary, the matrix, the failures, the diff).
 * 2. The report's data (#report-data, see harness/report/data.py): the case details, drawn when a
 *    case is opened, and the table of every row, drawn a page at a time, sorted and filtered over
 *    all rows. Tooltips of the matrix cells and case badges are written on first hover.
 * Everything from the data goes into the page as text (textContent, setAttribute): never as HTML.
 * The script knows no status words: the data says which statuses ran and which fail.
 */
(function () {
  "use strict";
  var NUM = /^[-+\u2212]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i;
  var collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });
  var matrixBox = document.getElementById("matrix-box");
  if (matrixBox) matrixBox.hidden = false;  // hidden while the page loaded: one layout of the big table, not many

  // ------------------------------------------------------------------------------------------
  // sortable HTML tables: numbers numerically (data-sort where the text does not say it), empty last

  function cellValue(td) {
    if (!td) return { n: null, s: "" };
    var ds = td.getAttribute("data-sort");
    if (ds !== null) {
      if (ds === "") return { n: null, s: "" };
      var x = Number(ds);
      return { n: isNaN(x) ? null : x, s: ds };
    }
    var t = td.textContent.trim();
    return { n: NUM.test(t) ? Number(t.replace("\u2212", "-")) : null, s: t };
  }
  function compare(a, b) {
    if (a.n !== null && b.n !== null) return a.n - b.n;
    if (a.n !== null) return -1;
    if (b.n !== null) return 1;
    return collator.compare(a.s, b.s);
  }
  function isEmpty(v) { return v.n === null && v.s === ""; }
  function nextDirection(th) {
    var current = th.getAttribute("aria-sort");
    var numeric = th.classList.contains("num") || th.classList.contains("fw");
    return current ? (current === "ascending" ? -1 : 1) : (numeric ? -1 : 1);
  }
  function markSorted(th, dir) {
    Array.prototype.forEach.call(th.parentNode.cells, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
  }
  function sortItems(items, dir) {  // items: {v: {n, s}, i}; empty values last either way, stable
    items.sort(function (a, b) {
      var am = isEmpty(a.v), bm = isEmpty(b.v);
      if (am !== bm) return am ? 1 : -1;
      return compare(a.v, b.v) * dir || a.i - b.i;
    });
  }
  function sortTable(table, th) {
    var body = table.tBodies[0];
    if (!body) return;
    var dir = nextDirection(th), index = th.cellIndex;
    var items = Array.prototype.map.call(body.rows, function (row, i) {
      return { row: row, v: cellValue(row.cells[index]), i: i };
    });
    sortItems(items, dir);
    var frag = document.createDocumentFragment();
    items.forEach(function (it) { frag.appendChild(it.row); });
    body.appendChild(frag);
    markSorted(th, dir);
  }
  function headerCell(e) {
    var th = e.target.closest && e.target.closest("thead th");
    var table = th && th.closest("table");
    return table && (table.classList.contains("sortable") || table.classList.contains("lazy")) ? th : null;
  }
  function onHeader(th) {
    var table = th.closest("table");
    if (table.classList.contains("lazy")) rowsTable.sortBy(th);
    else sortTable(table, th);
  }
  function makeHeadersFocusable(root) {
    root.querySelectorAll("table.sortable thead th, table.lazy thead th").forEach(function (th) { th.tabIndex = 0; });
  }
  document.addEventListener("click", function (e) { var th = headerCell(e); if (th) onHeader(th); });
  document.addEventListener("keydown", function (e) {
    var th = (e.key === "Enter" || e.key === " ") && headerCell(e);
    if (th) { e.preventDefault(); onHeader(th); }
  });
  makeHeadersFocusable(document);

  // ------------------------------------------------------------------------------------------
  // filter boxes: every term must occur in the item's text (data-text and what it shows)

  function filterItems(target) {
    if (target.tagName === "TABLE") return target.tBodies[0] ? Array.prototype.slice.call(target.tBodies[0].rows) : [];
    return Array.prototype.slice.call(target.querySelectorAll(":scope > .filterable"));
  }
  function terms(input) { return input.value.toLowerCase().split(/\s+/).filter(Boolean); }
  function showCount(id, shown, total, filtered) {
    var count = document.querySelector('[data-count-for="' + id + '"]');
    if (count) count.textContent = filtered ? shown + " of " + total + " shown" : total + (total === 1 ? " row" : " rows");
  }
  function applyFilter(input) {
    var id = input.getAttribute("data-target"), target = document.getElementById(id);
    if (!target) return;
    if (target.classList.contains("lazy")) { rowsTable.filter(terms(input)); return; }
    var words = terms(input), all = filterItems(target), shown = 0;
    all.forEach(function (el) {
      var text = ((el.getAttribute("data-text") || "") + " " + el.textContent).toLowerCase();
      var ok = words.every(function (t) { return text.indexOf(t) >= 0; });
      el.hidden = !ok;
      if (ok) shown++;
    });
    showCount(id, shown, all.length, words.length > 0);
  }
  document.addEventListener("input", function (e) {
    if (e.target.matches && e.target.matches("input.filter")) applyFilter(e.target);
  });

  document.querySelectorAll('input[name="strip"]').forEach(function (radio) {
    radio.addEventListener("change", function () {
      document.querySelectorAll('input[name="strip"]').forEach(function (other) {
        var box = document.getElementById(other.value);
        if (box) box.hidden = !other.checked;
      });
    });
  });

  // ------------------------------------------------------------------------------------------
  // the report's data

  var dataElement = document.getElementById("report-data");
  var D = dataElement ? JSON.parse(dataElement.textContent) : null;
  var rowsTable = { sortBy: function () {}, filter: function () {} };
  if (D) startReport();
  document.querySelectorAll("input.filter").forEach(applyFilter);

  function startReport() {
    var S = D.strings, ST = D.statuses, C = D.cases, R = {}, name;
    var codeOf = {};
    for (var i = 0; i < D.codes.length; i++) codeOf[D.codes.charAt(i)] = i;
    for (name in D.rows) R[name] = decode(D.rows[name]);
    var N = R.status.length;

    function decodeNumbers(col) {  // data.number_codes
      var B = D.codes.length, NB = D.numbers, out = new Array(col.n.length / 3), i, k;
      for (i = 0; i < out.length; i++) {
        var c = (codeOf[col.n.charAt(3 * i)] * B + codeOf[col.n.charAt(3 * i + 1)]) * B + codeOf[col.n.charAt(3 * i + 2)];
        if (c === 0) out[i] = null;
        else if (c < NB.floats) out[i] = c - 1;
        else if (c < NB.exceptions) {
          k = c - NB.floats;
          var neg = k % 2, mant = (k - neg) / 2 % 900 + 100, exp = Math.floor((k - neg) / 2 / 900) + NB.expMin;
          var v = exp < 0 ? mant / Math.pow(10, -exp) : mant * Math.pow(10, exp);
          out[i] = neg ? -v : v;
        } else out[i] = col.x[c - NB.exceptions];
      }
      return out;
    }
    function decode(col) {  // a column as data.encode_column wrote it
      if (Array.isArray(col)) return col;
      if (col.n !== undefined) return decodeNumbers(col);
      var out = [], i, k;
      if (col.r) {
        for (i = 0; i < col.r.length; i += 2) for (k = 0; k < col.r[i + 1]; k++) out.push(col.r[i]);
        return out;
      }
      out = new Array(col.c.length);
      for (i = 0; i < col.c.length; i++) out[i] = col.d[codeOf[col.c.charAt(i)]];
      return out;
    }
    function str(column, i) { return S[R[column][i]]; }
    function status(i) { return ST[R.status[i]]; }

    // numbers come as fmt() shows them (harness.formatting.page_number): strings as they are
    function fmtNum(v) {
      if (v === null || v === undefined) return "\u2013";
      if (typeof v === "string") return v;
      if (Number.isInteger(v)) return String(v);
      var parts = v.toExponential(2).split("e"), exp = parseInt(parts[1], 10);
      if (exp < -4 || exp >= 3) {
        var a = Math.abs(exp);
        return parts[0].replace(/\.?0+$/, "") + "e" + (exp < 0 ? "-" : "+") + (a < 10 ? "0" : "") + a;
      }
      return v.toFixed(Math.max(0, 2 - exp)).replace(/(\.\d*?)0+$/, "$1").replace(/\.$/, "");
    }
    function numValue(v) {
      if (v === null || v === undefined) return { n: null, s: "" };
      if (typeof v === "number") return { n: v, s: "" };
      var x = v === "\u221e" ? Infinity : v === "\u2212\u221e" ? -Infinity : Number(v);
      return { n: isNaN(x) ? null : x, s: v };
    }

    // ---------------------------------------------------------------------------------------
    // building elements (text only)

    function el(tag, attrs, children) {
      var e = document.createElement(tag), k;
      for (k in attrs || {}) if (attrs[k] !== null && attrs[k] !== undefined && attrs[k] !== "") e.setAttribute(k, attrs[k]);
      (children || []).forEach(function (c) {
        if (c === null || c === undefined || c === "") return;
        e.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
      });
      return e;
    }
    function chip(st) { return el("span", { "class": "chip st-" + st.name }, [st.name]); }
    function xfailTag(reason) { return reason ? el("span", { "class": "xfail-tag", title: reason }, ["xfail"]) : null; }
    function numTd(v) {
      var value = numValue(v), attrs = { "class": "n" };
      if (typeof v !== "number") attrs["data-sort"] = value.n === null ? "" : String(value.n);
      return el("td", attrs, [fmtNum(v)]);
    }
    function ratioTd(i) {
      var style = str("style", i), td = numTd(R.bound_ratio[i]);
      td.className = "n ratio" + (style.indexOf("#ffffff") >= 0 ? " w" : "");
      if (style) td.setAttribute("style", style);
      return td;
    }
    function statusTd(i) { return el("td", {}, [chip(status(i)), xfailTag(str("xfail", i))]); }
    function caseLink(i) { var c = R["case"][i]; return el("a", { href: "#" + S[C.anchor[c]] }, [S[C.id[c]]]); }

    // ---------------------------------------------------------------------------------------
    // tooltips of matrix cells and badges, from the rows of their group (contiguous in the data)

    function sameGroup(a, b, withDtype) {
      return R["case"][a] === R["case"][b] && R.run[a] === R.run[b] && R.framework[a] === R.framework[b] &&
        (!withDtype || R.dtype[a] === R.dtype[b]);
    }
    function groupTip(w, withDtype) {
      var lo = w, hi = w, i, ratio = null, shown = "", xfail = "", notCompared = {}, st = status(w);
      while (lo > 0 && sameGroup(lo - 1, w, withDtype)) lo--;
      while (hi + 1 < N && sameGroup(hi + 1, w, withDtype)) hi++;
      for (i = lo; i <= hi; i++) {
        var v = numValue(R.bound_ratio[i]).n;
        if (v !== null && (ratio === null || v > ratio)) { ratio = v; shown = fmtNum(R.bound_ratio[i]); }
        if (!xfail && str("xfail", i)) xfail = str("xfail", i);
        if (!status(i).ran && !status(i).failing) notCompared[str("quantity", i)] = true;
      }
      var tip = [str("framework", w) + " " + str("version", w) + " \u00b7 " + str("dtype", w) + ": " + st.name];
      if (ratio !== null) {
        tip.push("worst bound ratio " + shown + " (" + str("quantity", w) + "), tolerance " + fmtNum(R.tolerance[w]));
      }
      if (str("message", w)) tip.push(str("message", w));
      var skipped = Object.keys(notCompared).sort();
      if (st.ran && !st.failing && skipped.length) tip.push("not compared: " + skipped.join(", "));
      if (str("expression", w) === D.emulated) tip.push(D.emulated + ": " + str("reason", w));
      if (xfail) tip.push("expected to fail (xfail): " + xfail);
      return tip.join("\n");
    }
    document.addEventListener("mouseover", function (e) {
      var t = e.target.closest && e.target.closest("#matrix-table td.c, #matrix-table td:empty, .badge[data-w]");
      if (!t || t.hasAttribute("title")) return;
      var w = t.getAttribute("data-w");
      t.setAttribute("title", w === null ? "not run" : groupTip(Number(w), t.tagName === "TD"));
    });

    // ---------------------------------------------------------------------------------------
    // case details: the list at once, each body when the case is opened

    function caseText(c) {
      var words = [S[C.id[c]], S[C.file[c]], S[C.op[c]], S[C.description[c]]];
      C.badges[c].forEach(function (b) { words.push(S[b[0]] + ":" + ST[b[4]].name); });
      if (C.failing[c]) words.push("failing");
      return words.join(" ");
    }
    function caseSummary(c) {
      var badges = C.badges[c].map(function (b) {
        return el("span", { "class": "badge", style: S[b[2]], "data-w": b[5] },
                  [S[b[0]] + ": " + S[b[1]] + (b[3] ? " \u00b7 xfail" : "")]);
      });
      var loc = S[C.file[c]] + (C.line[c] === null ? "" : ":" + C.line[c]);
      return el("summary", {}, [el("span", { "class": "cid" }, [S[C.id[c]]]), el("span", { "class": "op" }, [S[C.op[c]]]),
                                el("span", { "class": "loc" }, [loc]), el("span", { "class": "badges" }, badges)]);
    }
    function buildCaseList() {
      var list = document.getElementById("cases-list");
      if (!list) return;
      var frag = document.createDocumentFragment();
      for (var c = 0; c < C.id.length; c++) {
        var d = el("details", { "class": "case filterable" + (C.failing[c] ? " failing" : ""), id: S[C.anchor[c]],
                                "data-text": caseText(c), "data-case": c }, [caseSummary(c), el("div", { "class": "body" })]);
        d.addEventListener("toggle", function () { if (this.open) caseBody(this); });
        frag.appendChild(d);
      }
      list.appendChild(frag);
    }
    function table(headers, rows, cls) {
      var head = el("tr", {}, headers.map(function (h) {
        return el("th", { "class": h.charAt(0) === "#" ? "num" : "" }, [h.replace(/^#/, "")]);
      }));
      return el("div", { "class": "scroll" }, [el("table", { "class": "data " + cls }, [el("thead", {}, [head]),
                                                                                   el("tbody", {}, rows)])]);
    }
    function howTable(c) {
      var multi = D.multiRun;
      var rows = C.how[c].map(function (h) {
        var x = h.map(function (k) { return S[k]; });  // run framework version path device dtypes expression call reason xfail
        var cells = [el("td", {}, [el("b", {}, [x[1]]), xfailTag(x[9])]), el("td", {}, [x[2]]), el("td", {}, [x[3]]),
                     el("td", {}, [x[4]]), el("td", {}, [x[5]]),
                     el("td", {}, [x[6] ? el("span", { "class": "chip st-" + x[6] }, [x[6]]) : null]),
                     el("td", {}, [el("code", {}, [x[7]])]),
                     el("td", { "class": "msg" }, [x[8], x[9] ? el("div", { "class": "muted" }, ["expected to fail: " + x[9]]) : null])];
        if (multi) cells.unshift(el("td", {}, [x[0]]));
        return el("tr", {}, cells);
      });
      var heads = ["framework", "version", "path", "device", "dtypes", "expression", "native call", "why"];
      return table(multi ? ["run"].concat(heads) : heads, rows, "how");
    }
    function resultsTable(c) {
      var rows = [];
      for (var i = C.start[c]; i < C.start[c + 1]; i++) {
        var cells = [el("td", {}, [str("framework", i)]), el("td", {}, [str("dtype", i)]), el("td", {}, [str("quantity", i)]),
                     statusTd(i), ratioTd(i), numTd(R.error_ratio[i]), numTd(R.max_abs_error[i]), numTd(R.max_rel_error[i]),
                     numTd(R.max_ulps[i]), el("td", { "class": "mono" }, [str("worst_index", i)]), numTd(R.worst_actual[i]),
                     numTd(R.worst_expected[i]), numTd(R.worst_bound[i]), numTd(R.reduction_length[i]),
                     el("td", { "class": "mono" }, [str("shape", i)]), el("td", { "class": "msg" }, [str("message", i)])];
        if (D.multiRun) cells.unshift(el("td", {}, [str("run", i)]));
        rows.push(el("tr", {}, cells));
      }
      var heads = ["framework", "dtype", "quantity", "status", "#bound ratio", "#error ratio", "#max abs", "#max rel", "#ULPs",
                   "worst index", "#actual", "#expected", "#bound", "#K", "shape", "message"];
      return table(D.multiRun ? ["run"].concat(heads) : heads, rows, "sortable");
    }
    function tracebacks(c) {
      var out = [];
      for (var i = C.start[c]; i < C.start[c + 1]; i++) {
        if (!str("traceback", i)) continue;
        out.push(el("details", {}, [el("summary", { "class": "muted" }, ["traceback: " + str("framework", i) + " " +
                     str("dtype", i) + " " + str("quantity", i)]), el("pre", { "class": "tb" }, [str("traceback", i)])]));
      }
      return out;
    }
    function refsBlock(c) {
      if (!C.refs[c].length) return null;
      var parts = ["refs: "];
      C.refs[c].forEach(function (ref, k) {
        var text = S[ref[0]];  // only http(s) references are links (the data says which)
        parts.push(ref[1] ? el("a", { href: text, rel: "noopener noreferrer", target: "_blank" }, [text])
                          : el("span", { "class": "mono" }, [text]));
        if (k + 1 < C.refs[c].length) parts.push(" ");
      });
      return el("div", { "class": "refs" }, parts);
    }
    function caseBody(details) {
      var body = details.querySelector(":scope > .body");
      if (!body || body.hasChildNodes()) return;
      var c = Number(details.getAttribute("data-case")), desc = S[C.description[c]];
      var params = C.params[c].map(function (p) { return el("div", {}, [el("dt", {}, [S[p[0]]]), el("dd", {}, [S[p[1]]])]); });
      [desc ? el("p", { "class": "desc" }, [desc]) : null, refsBlock(c), el("h4", {}, ["Parameters"]),
       el("dl", { "class": "params" }, params), el("h4", {}, ["How each framework expressed it"]), howTable(c),
       el("h4", {}, ["Results"]), resultsTable(c)].concat(tracebacks(c)).forEach(function (part) {
        if (part) body.appendChild(part);
      });
      makeHeadersFocusable(body);
    }
    function openId(id, scroll) {
      var target = id && document.getElementById(id);
      if (!target) return;
      for (var p = target; p; p = p.parentElement) {
        if (p.tagName !== "DETAILS") continue;
        if (p.classList.contains("case")) caseBody(p);
        p.hidden = false;
        p.open = true;
      }
      if (scroll) target.scrollIntoView();
    }
    // a link to a case opens its <details> at once (the browser then scrolls to it)
    document.addEventListener("click", function (e) {
      var a = e.target.closest && e.target.closest('a[href^="#"]');
      if (a) openId(decodeURIComponent(a.getAttribute("href").slice(1)), false);
    });
    window.addEventListener("hashchange", function () { openId(decodeURIComponent(location.hash.slice(1)), true); });
    document.querySelectorAll("button[data-expand]").forEach(function (button) {
      button.addEventListener("click", function () {
        var open = button.getAttribute("data-open") === "1";
        var target = document.getElementById(button.getAttribute("data-expand"));
        target.querySelectorAll(":scope > details").forEach(function (d) {
          if (open && !d.hidden) { caseBody(d); d.open = true; } else if (!open) d.open = false;
        });
      });
    });

    // ---------------------------------------------------------------------------------------
    // every row: one page at a time; sorting and filtering act on all rows

    var COLUMNS = [
      { head: "case", td: function (i) { return el("td", {}, [caseLink(i)]); }, text: function (i) { return S[C.id[R["case"][i]]]; } },
      { head: "op", text: function (i) { return S[C.op[R["case"][i]]]; } },
      { head: "framework", text: function (i) { return str("framework", i); } },
      { head: "version", text: function (i) { return str("version", i); } },
      { head: "dtype", text: function (i) { return str("dtype", i); } },
      { head: "quantity", text: function (i) { return str("quantity", i); } },
      { head: "status", td: statusTd, text: function (i) { return status(i).name + (str("xfail", i) ? " xfail" : ""); } },
      { head: "expression", text: function (i) { return str("expression", i); } },
      { head: "#bound ratio", td: ratioTd, num: "bound_ratio" },
      { head: "#error ratio", num: "error_ratio" },
      { head: "#max abs", num: "max_abs_error" },
      { head: "#ULPs", num: "max_ulps" },
      { head: "#K", num: "reduction_length" },
      { head: "#seconds", num: "seconds" },
      { head: "message", td: function (i) { return el("td", { "class": "msg" }, [str("message", i)]); },
        text: function (i) { return str("message", i); } }
    ];
    if (D.multiRun) COLUMNS.unshift({ head: "run", text: function (i) { return str("run", i); } });
    COLUMNS.forEach(function (col) {
      if (col.num) col.text = function (i) { return fmtNum(R[col.num][i]); };
      if (!col.td) col.td = col.num ? function (i) { return numTd(R[col.num][i]); }
                                    : function (i) { return el("td", {}, [col.text(i)]); };
      col.value = col.num ? function (i) { return numValue(R[col.num][i]); }
                          : function (i) { var t = col.text(i); return { n: NUM.test(t) ? Number(t) : null, s: t }; };
    });
    rowsTable = makeRowsTable(document.getElementById("rows-table"), COLUMNS, N);
    var rowsDetails = document.getElementById("rows-details");
    if (rowsDetails) rowsDetails.addEventListener("toggle", function () { if (this.open) rowsTable.draw(); });

    function makeRowsTable(tableEl, columns, n) {
      var PAGE = 100, all = [], page = 0, search = null, drawn = false, i;
      for (i = 0; i < n; i++) all.push(i);
      var order = all.slice();
      var pager = document.querySelector('[data-pager-for="rows-table"]');
      function searchText(i) {
        return columns.map(function (col) { return col.text(i); }).join(" ").toLowerCase();
      }
      function head() {
        return el("thead", {}, [el("tr", {}, columns.map(function (col) {
          return el("th", { "class": col.head.charAt(0) === "#" ? "num" : "", tabindex: "0" }, [col.head.replace(/^#/, "")]);
        }))]);
      }
      function pagerButton(label, to, title) {
        var b = el("button", { type: "button", "class": "small", title: title, "data-page": to }, [label]);
        b.disabled = to < 0 || to * PAGE >= order.length || to === page;
        b.addEventListener("click", function () { page = to; draw(); });
        return b;
      }
      function drawPager() {
        if (!pager) return;
        var last = Math.max(0, Math.ceil(order.length / PAGE) - 1), from = order.length ? page * PAGE + 1 : 0;
        var to = Math.min(order.length, (page + 1) * PAGE);
        pager.textContent = "";
        [pagerButton("\u00ab", 0, "first page"), pagerButton("\u2039", page - 1, "previous page"),
         el("span", { "class": "where" }, ["rows " + from + "\u2013" + to + " of " + order.length]),
         pagerButton("\u203a", page + 1, "next page"), pagerButton("\u00bb", last, "last page")].forEach(function (x) {
          pager.appendChild(x);
        });
      }
      function draw() {
        if (!drawn) { tableEl.appendChild(head()); tableEl.appendChild(el("tbody")); drawn = true; }
        var body = tableEl.tBodies[0], frag = document.createDocumentFragment();
        order.slice(page * PAGE, (page + 1) * PAGE).forEach(function (i) {
          frag.appendChild(el("tr", {}, columns.map(function (col) { return col.td(i); })));
        });
        body.textContent = "";
        body.appendChild(frag);
        drawPager();
      }
      var sortState = null;  // {col, dir}
      function applySort() {
        if (!sortState) return;
        var col = columns[sortState.col];
        var items = order.map(function (i, k) { return { i: k, row: i, v: col.value(i) }; });
        sortItems(items, sortState.dir);
        order = items.map(function (it) { return it.row; });
      }
      function sortBy(th) {
        sortState = { col: th.cellIndex, dir: nextDirection(th) };
        applySort();
        markSorted(th, sortState.dir);
        page = 0;
        draw();
      }
      function filter(words) {
        if (words.length && !search) { search = []; for (var k = 0; k < n; k++) search.push(searchText(k)); }
        order = words.length ? all.filter(function (i) {
          return words.every(function (t) { return search[i].indexOf(t) >= 0; });
        }) : all.slice();
        applySort();
        page = 0;
        showCount("rows-table", order.length, n, words.length > 0);
        if (drawn) draw();
      }
      return { draw: draw, sortBy: sortBy, filter: filter };
    }

    buildCaseList();
    openId(decodeURIComponent(location.hash.slice(1)), true);
  }
})();
