// Inserts a variable at the cursor of the message text. No counting here: the server counts.
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-insert]");
  if (!button) return;
  var area = document.getElementById("text");
  var start = area.selectionStart, end = area.selectionEnd;
  area.value = area.value.slice(0, start) + button.dataset.insert + area.value.slice(end);
  area.focus();
  area.selectionStart = area.selectionEnd = start + button.dataset.insert.length;
  area.dispatchEvent(new Event("input", { bubbles: true }));
});
