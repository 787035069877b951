// The sign-in page: renders the month from /api/signin/calendar/, signs in without a reload.
(function () {
  var state = JSON.parse(document.getElementById("signin-calendar").textContent);
  var grid = document.querySelector("[data-testid=calendar]");
  var label = document.querySelector("[data-testid=month-label]");
  var button = document.querySelector("[data-testid=signin-button]");
  var message = document.querySelector("[data-testid=signin-message]");
  var streakEl = document.querySelector("[data-testid=signin-streak]");
  var pointsEl = document.querySelector("[data-testid=signin-points]");
  var totalEl = document.querySelector("[data-testid=signin-total]");
  var NAMES = ["January", "February", "March", "April", "May", "June", "July", "August",
               "September", "October", "November", "December"];

  function shift(month, delta) {
    var y = Number(month.slice(0, 4)), m = Number(month.slice(5, 7)) - 1 + delta;
    y += Math.floor(m / 12);
    m = ((m % 12) + 12) % 12;
    return y + "-" + String(m + 1).padStart(2, "0");
  }

  function render() {
    var month = state.month;
    label.textContent = NAMES[Number(month.slice(5, 7)) - 1] + " " + month.slice(0, 4);
    grid.innerHTML = "";
    ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"].forEach(function (d) {
      grid.appendChild(Surge.el("div", { "class": "dow" }, d));
    });
    for (var i = 0; i < state.first_weekday; i++) grid.appendChild(Surge.el("div", { "class": "blank" }));
    var signed = {};
    state.days.forEach(function (d) { signed[d] = true; });
    for (var day = 1; day <= state.days_in_month; day++) {
      var iso = month + "-" + String(day).padStart(2, "0");
      var cls = "signin-day";
      if (signed[day]) cls += " signed";
      if (iso === state.today) cls += " today";
      if (iso > state.today) cls += " future";
      var cell = Surge.el("div", { "class": cls, "data-testid": "day-" + iso, "role": "gridcell",
                                   "aria-label": iso + (signed[day] ? " signed in" : "") }, String(day));
      grid.appendChild(cell);
    }
    streakEl.textContent = state.streak;
    totalEl.textContent = state.total_days;
    // Nothing to browse after the current month.
    document.querySelector("[data-testid=month-next]").disabled = month >= state.today.slice(0, 7);
  }

  async function load(month) {
    var res = await Surge.api("GET", "/api/signin/calendar/?month=" + encodeURIComponent(month));
    if (!res.ok) {
      message.textContent = (res.data && res.data.detail) || "Could not load the calendar.";
      return;
    }
    state = res.data;
    render();
  }

  document.querySelector("[data-testid=month-prev]").addEventListener("click", function () { load(shift(state.month, -1)); });
  document.querySelector("[data-testid=month-next]").addEventListener("click", function () { load(shift(state.month, 1)); });

  button.addEventListener("click", async function () {
    button.disabled = true;
    message.textContent = "Signing in…";
    var res = await Surge.api("POST", "/api/signin/");
    if (!res.ok) {
      message.textContent = (res.data && res.data.detail) || "Sign-in failed, please retry.";
      button.disabled = false;
      return;
    }
    var r = res.data;
    button.textContent = "Signed in today";
    if (r.already) {
      message.textContent = "You had already signed in today.";
    } else {
      message.textContent = "+" + r.points_awarded + " points! Day " + r.streak + " of your streak.";
      if (r.total_points !== undefined && r.total_points !== null) pointsEl.textContent = r.total_points;
      else pointsEl.textContent = Number(pointsEl.textContent) + r.points_awarded;
    }
    // Show the month of the day just signed (also when another month was on screen).
    await load(r.date.slice(0, 7));
  });

  render();
})();
