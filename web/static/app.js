// The only script of the site; every page works without it. "Chọn tất cả" for bulk review:
document.addEventListener("change", function (event) {
  var box = event.target;
  if (!box.matches || !box.matches("input[data-select-all]")) return;
  var form = box.closest("form");
  form.querySelectorAll("input[type=checkbox][name=" + box.dataset.selectAll + "]").forEach(function (item) {
    item.checked = box.checked;
  });
});

// "Chép địa chỉ": copy the calendar address (the field stays selectable where the clipboard is refused).
document.addEventListener("click", function (event) {
  var button = event.target;
  if (!button.matches || !button.matches("button[data-copy]")) return;
  var field = document.querySelector(button.dataset.copy);
  field.select();
  var done = function () { button.textContent = button.dataset.copied; };
  if (navigator.clipboard) {
    navigator.clipboard.writeText(field.value).then(done, function () { document.execCommand("copy"); done(); });
  } else {
    document.execCommand("copy");
    done();
  }
});

// Sortable tables (table[data-sortable]): each header becomes a button that orders the rows by its column,
// numbers by their data-value, words in Vietnamese order; aria-sort says which column and which way. Without
// the script the table stays as the server ordered it.
(function () {
  var collator = new Intl.Collator("vi", { numeric: true, sensitivity: "base" });
  var key = function (cell) {
    if (!cell) return "";
    var value = cell.getAttribute("data-value");
    if (value !== null && value !== "" && !isNaN(Number(value))) return Number(value);
    return cell.textContent.replace(/\s+/g, " ").trim();
  };
  var compare = function (a, b) {
    if (typeof a === "number" && typeof b === "number") return a - b;
    if (typeof a === "number") return -1;
    if (typeof b === "number") return 1;
    return collator.compare(a, b);
  };
  var sortBy = function (table, th, index) {
    var body = table.tBodies[0];
    var current = th.getAttribute("aria-sort");
    // First click: figures largest first, names A to Z; then each click turns the order round.
    var way = current ? (current === "ascending" ? "descending" : "ascending")
                      : (th.classList.contains("num") ? "descending" : "ascending");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var c = compare(key(a.cells[index]), key(b.cells[index]));
      return way === "ascending" ? c : -c;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", way);
  };
  document.querySelectorAll("table[data-sortable]").forEach(function (table) {
    if (!table.tHead || !table.tBodies.length) return;
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      while (th.firstChild) button.appendChild(th.firstChild);
      th.appendChild(button);
      button.addEventListener("click", function () { sortBy(table, th, index); });
    });
  });
})();

// Downloads that take seconds (a[data-busy]): the link shows it is working and a message says so while the
// server builds the file, which is then saved. Without the script the link is an ordinary download.
document.addEventListener("click", function (event) {
  var link = event.target.closest ? event.target.closest("a[data-busy]") : null;
  if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  if (link.getAttribute("aria-disabled") === "true") return;  // already being made
  var status = document.getElementById("trang-thai-tai");
  var label = link.getAttribute("data-label") || link.textContent.trim();
  var say = function (text) { if (status) status.textContent = text; };
  link.setAttribute("aria-disabled", "true");
  link.setAttribute("aria-busy", "true");
  link.classList.add("busy");
  say(link.getAttribute("data-busy") + " " + label + "…");
  var done = function () {
    link.removeAttribute("aria-disabled");
    link.removeAttribute("aria-busy");
    link.classList.remove("busy");
  };
  fetch(link.href, { credentials: "same-origin" }).then(function (response) {
    if (!response.ok) {
      return response.text().then(function (html) {
        var main = new DOMParser().parseFromString(html, "text/html").querySelector("main");
        throw new Error(main ? main.textContent.replace(/\s+/g, " ").trim() : "lỗi " + response.status);
      });
    }
    var header = response.headers.get("Content-Disposition") || "";
    var utf8 = /filename\*=UTF-8''([^;]+)/i.exec(header);
    var plain = /filename="?([^";]+)"?/i.exec(header);
    var name = utf8 ? decodeURIComponent(utf8[1]) : (plain ? plain[1] : link.pathname.split("/").pop());
    return response.blob().then(function (blob) {
      var url = URL.createObjectURL(blob);
      var save = document.createElement("a");
      save.href = url;
      save.download = name;
      document.body.appendChild(save);
      save.click();
      save.remove();
      setTimeout(function () { URL.revokeObjectURL(url); }, 60000);
      say("Đã tạo xong tệp " + label + ".");
    });
  }).catch(function (error) {
    say("Chưa tạo được tệp " + label + ". " + error.message);
  }).then(done);
});
