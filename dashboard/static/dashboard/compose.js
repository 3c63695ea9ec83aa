// Inserts a variable at the cursor of the message text being edited (the main text or a
// translation: the last one focused). No counting here: the server counts.
var lastText = null;
document.addEventListener("focusin", function (event) {
  if (event.target.classList && event.target.classList.contains("message-text")) lastText = event.target;
});
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-insert]");
  if (!button) return;
  var area = lastText && document.body.contains(lastText) ? lastText : document.getElementById("text");
  var start = area.selectionStart, end = area.selectionEnd;
  area.value = area.value.slice(0, start) + button.dataset.insert + area.value.slice(end);
  area.focus();
  area.selectionStart = area.selectionEnd = start + button.dataset.insert.length;
  area.dispatchEvent(new Event("input", { bubbles: true }));
});
// Enter in the contact search searches (htmx) instead of submitting the whole form for review.
document.addEventListener("keydown", function (event) {
  if (event.key === "Enter" && event.target.name === "contact_q") event.preventDefault();
});
// The schedule shows the chosen mode's fields only (all of them show with JavaScript off).
function showScheduleMode() {
  var chosen = document.querySelector("input[name=schedule_mode]:checked");
  document.querySelectorAll(".schedule-mode").forEach(function (part) {
    part.hidden = !chosen || part.dataset.mode !== chosen.value;
  });
}
document.addEventListener("change", function (event) {
  if (event.target.name === "schedule_mode") showScheduleMode();
});
document.addEventListener("DOMContentLoaded", showScheduleMode);
// The A/B test's texts show when "A/B test" is the content chosen (all show with JavaScript off).
function showContentMode() {
  var chosen = document.querySelector("input[name=content_mode]:checked");
  document.querySelectorAll(".content-mode").forEach(function (part) {
    part.hidden = !chosen || part.dataset.content !== chosen.value;
  });
}
document.addEventListener("change", function (event) {
  if (event.target.name === "content_mode") showContentMode();
});
document.addEventListener("DOMContentLoaded", showContentMode);
