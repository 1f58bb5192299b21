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
