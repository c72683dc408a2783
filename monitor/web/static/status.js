// ccmon status page: sorting of the registry comparison and the auto-refresh with a pause.
// A separate file (no inline script or event handler), so the page works under
// Content-Security-Policy: script-src 'self'. Without JavaScript the page reads as sent:
// the server sorts worst first, and a <noscript> meta refresh reloads it.
(function () {
  "use strict";

  function sortable(table) {
    var heads = table.tHead.rows[0].cells;
    function value(row, col) {
      var cell = row.cells[col];
      return cell ? cell.getAttribute("data-v") || "" : "";
    }
    function sortBy(col, dir) {
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      if (rows.length && rows[0].cells.length < heads.length) { return; } // "no sweep yet"
      rows.sort(function (a, b) {
        var x = value(a, col), y = value(b, col);
        var nx = Number(x), ny = Number(y);
        var c;
        if (x === "" && y !== "") { return 1; } // empty values last in both directions
        if (y === "" && x !== "") { return -1; }
        if (x !== "" && !isNaN(nx) && !isNaN(ny)) { c = nx - ny; } else { c = x.localeCompare(y); }
        return dir === "ascending" ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
      for (var i = 0; i < heads.length; i++) {
        if (i === col) { heads[i].setAttribute("aria-sort", dir); }
        else { heads[i].removeAttribute("aria-sort"); }
      }
      history.replaceState(null, "", "#sort=" + col + "," + dir);
    }
    Array.prototype.forEach.call(heads, function (th, col) {
      var button = th.querySelector("button.sort");
      if (!button) { return; }
      button.disabled = false; // sent disabled: a button that cannot work without script
      // a <button>: Enter and Space activate it like a click, no key handling needed
      button.addEventListener("click", function () {
        sortBy(col, th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending");
      });
    });
    var m = /#sort=(\d+),(ascending|descending)/.exec(location.hash);
    if (m && +m[1] < heads.length) { sortBy(+m[1], m[2]); }
  }

  function autoRefresh() {
    var seconds = parseInt(document.body.getAttribute("data-refresh"), 10);
    var box = document.getElementById("refresh");
    var button = document.getElementById("pause");
    var note = document.getElementById("refresh-state");
    if (!seconds || !box || !button) { return; }
    var timer = null;
    function schedule() { timer = window.setTimeout(function () { location.reload(); }, seconds * 1000); }
    button.addEventListener("click", function () {
      var paused = button.getAttribute("aria-pressed") !== "true";
      button.setAttribute("aria-pressed", paused ? "true" : "false");
      if (paused) {
        window.clearTimeout(timer);
        note.textContent = "Auto-refresh paused.";
      } else {
        note.textContent = "This page reloads every " + seconds + " s.";
        schedule();
      }
    });
    box.hidden = false;
    schedule();
  }

  function start() {
    var table = document.getElementById("comparison");
    if (table && table.tHead) { sortable(table); }
    autoRefresh();
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); }
  else { start(); }
})();
