// Feedback for the forms HTMX sends (the comment boxes): the server's reason for a refusal in
// an alert at the top of the form, and an emptied form once the comment is saved. Without
// JavaScript they post as plain forms, and a refusal comes back as the page, the form as typed.
"use strict";

(() => {
  const ALERT = "form-alert";

  function alertOf(form) {
    let alert = form.querySelector(`:scope > .${ALERT}`);
    if (!alert) {
      alert = document.createElement("p");
      alert.className = `error-box ${ALERT}`;
      alert.setAttribute("role", "alert");
      form.prepend(alert);
    }
    return alert;
  }

  // The server answers an HTMX request it refuses with the reason as plain text.
  function reason(xhr) {
    const plain = (xhr.getResponseHeader("Content-Type") || "").startsWith("text/plain");
    const text = plain ? xhr.responseText.trim() : "";
    return text || `The server could not take this (HTTP ${xhr.status}); try again.`;
  }

  function show(event, message) {
    const form = event.detail.elt.closest("form");
    if (form) alertOf(form).textContent = message;
  }

  document.addEventListener("htmx:responseError", (event) => show(event, reason(event.detail.xhr)));
  document.addEventListener("htmx:sendError", (event) =>
    show(event, "The server could not be reached; nothing was saved. Try again."),
  );
  document.addEventListener("htmx:afterRequest", (event) => {
    const form = event.detail.elt;
    if (!(form instanceof HTMLFormElement) || !event.detail.successful) return;
    form.reset();
    form.querySelector(`:scope > .${ALERT}`)?.remove();
  });
})();
