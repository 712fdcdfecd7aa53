"""The one script of the account pages: WebAuthn ceremonies for passkeys.

Served from our own origin (/app/passkeys.js; the pages' CSP allows only
'self'). It asks the server for options, lets the browser create or use a
credential, and posts the credential back with the session's CSRF token.
"""

SCRIPT = """\
(function () {
  "use strict";
  async function run(button) {
    var error = document.getElementById("passkey-error");
    error.hidden = true;
    try {
      var headers = {"X-CSRF-Token": button.dataset.csrf, "Content-Type": "application/json"};
      var started = await fetch(button.dataset.options,
        {method: "POST", headers: headers, credentials: "same-origin"});
      if (!started.ok) { throw new Error("could not start (" + started.status + ")"); }
      var options = await started.json();
      var credential = button.id === "add-passkey"
        ? await navigator.credentials.create(
            {publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options)})
        : await navigator.credentials.get(
            {publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options)});
      var finished = await fetch(button.dataset.finish, {method: "POST", headers: headers,
        credentials: "same-origin", body: JSON.stringify(credential.toJSON())});
      var result = await finished.json();
      if (!finished.ok) { throw new Error(result.error || "the passkey was not accepted"); }
      window.location.assign(result.next);
    } catch (e) {
      error.textContent = String((e && e.message) || e);
      error.hidden = false;
    }
  }
  ["add-passkey", "use-passkey"].forEach(function (id) {
    var button = document.getElementById(id);
    if (button) { button.addEventListener("click", function () { run(button); }); }
  });
})();
"""
