// The profile form saves through PATCH /api/me/ and shows the result at once (the navigation
// included); without this script the form posts to /me/ and the page reloads.
(function () {
  var form = document.getElementById("profile-form");
  if (!form || !window.Surge) return;
  var status = form.querySelector("[data-testid=profile-status]");

  function showErrors(errors) {
    form.querySelectorAll("[data-error-for]").forEach(function (e) {
      var msgs = errors[e.dataset.errorFor];
      e.textContent = msgs ? [].concat(msgs).join(" ") : "";
    });
  }

  form.addEventListener("submit", async function (ev) {
    ev.preventDefault();
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    status.textContent = "Saving…";
    var body = {
      nickname: form.elements.nickname.value,
      avatar: form.elements.avatar.value,
      bio: form.elements.bio.value
    };
    try {
      var res = await Surge.api("PATCH", "/api/me/", body);
      if (res.ok) {
        showErrors({});
        status.textContent = "Saved.";
        var name = res.data.display_name;
        document.querySelectorAll("[data-testid=nav-user], [data-testid=me-display-name]").forEach(function (e) {
          e.textContent = name;
        });
      } else if (res.status === 400 && res.data) {
        showErrors(res.data);
        status.textContent = res.data.detail || "Please fix the fields marked above.";
      } else {
        status.textContent = (res.data && res.data.detail) || "Could not save (" + res.status + "). Try again.";
      }
    } catch (e) {
      status.textContent = "Network error; try again.";
    } finally {
      button.disabled = false;
    }
  });
})();
