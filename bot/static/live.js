// The console's live updates (bot/staff_live.py): asks /staff/live for the changes since the page's
// version, refreshes what they touch from the page's own address, says who changed the ticket on
// screen, and notifies (with the member's permission) of new tickets, emergency alerts and tickets
// assigned to them. Plain JavaScript, no build step; every wording comes from the page (#live).
(function () {
  "use strict";
  var box = document.getElementById("live");
  if (!box || !window.fetch || !window.DOMParser) return;
  var words = box.dataset;
  var version = Number(words.version) || 0;
  var kind = words.page || "";
  var ticket = words.ticket ? Number(words.ticket) : null;
  var notice = document.getElementById("live-notice");
  var title = document.title;
  var unseen = 0;
  var failures = 0;

  function say(text, withReload) {
    notice.textContent = text + " ";
    if (withReload) {
      var link = document.createElement("a");
      link.href = location.href;
      link.textContent = words.tReload;
      notice.appendChild(link);
    }
    notice.hidden = false;
  }

  function badge() {
    document.title = unseen ? "(" + unseen + ") " + title : title;
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) { unseen = 0; badge(); }
  });

  var button = document.getElementById("live-notify");
  if ("Notification" in window && button) {
    button.hidden = Notification.permission !== "default";
    button.addEventListener("click", function () {
      Notification.requestPermission().then(function () { button.hidden = Notification.permission !== "default"; });
    });
  }

  function tell(text, tag) {
    if (document.hidden || !document.hasFocus()) { unseen += 1; badge(); }
    if ("Notification" in window && Notification.permission === "granted") {
      try { new Notification(text, { tag: tag }); } catch (error) { /* a browser that wants a service worker */ }
    }
  }

  function changedByMember(root) {
    var fields = root.querySelectorAll("input, textarea, select");
    for (var i = 0; i < fields.length; i++) {
      var field = fields[i];
      if (field.type === "hidden" || field.type === "submit") continue;
      if (field.type === "checkbox" || field.type === "radio") {
        if (field.checked !== field.defaultChecked) return true;
      } else if (field.tagName === "SELECT") {
        var initial = 0;  // without a selected attribute the first option is the default
        for (var j = 0; j < field.options.length; j++) {
          if (field.options[j].defaultSelected) { initial = j; break; }
        }
        if (field.selectedIndex !== initial) return true;
      } else if (field.value !== field.defaultValue) {
        return true;
      }
    }
    return false;
  }

  function swap(old, fresh) {
    var ticked = {};
    old.querySelectorAll("input[type=checkbox]:checked").forEach(function (c) { ticked[c.name + "=" + c.value] = true; });
    fresh.querySelectorAll("input[type=checkbox]").forEach(function (c) {
      if (ticked[c.name + "=" + c.value]) c.checked = true;
    });
    old.replaceWith(document.importNode(fresh, true));
  }

  // The page read again from its own address; the parts marked data-live replaced (the whole of
  // <main> on a page that allows it, when the member has typed or chosen nothing in it).
  function refresh() {
    return fetch(location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) { return response.ok && !response.redirected ? response.text() : null; })
      .then(function (html) {
        if (!html) return false;
        var fresh = new DOMParser().parseFromString(html, "text/html");
        var main = document.getElementById("main");
        var freshMain = fresh.getElementById("main");
        var alerts = document.getElementById("live-alerts");
        var freshAlerts = fresh.getElementById("live-alerts");
        if (alerts && freshAlerts) swap(alerts, freshAlerts);
        if (main && freshMain && main.hasAttribute("data-live-whole") && !changedByMember(main)) {
          swap(main, freshMain);
          return true;
        }
        document.querySelectorAll("#main [data-live]").forEach(function (old) {
          var part = fresh.getElementById(old.id);
          if (part) swap(old, part);
        });
        return false;
      });
  }

  function handle(data) {
    var here = null;
    var touched = data.reload;
    data.changes.forEach(function (change) {
      if (change.kind === "created") tell(words.tCreated + " " + change.number + " · " + change.category, "new-" + change.number);
      if (change.kind === "alert") tell(words.tAlert, "alert-" + change.seq);
      if (change.to_me && !change.me) {
        tell(words.tAssigned + " " + change.number, "assigned-" + change.number);
        say(words.tAssigned + " " + change.number);
      }
      if (change.kind === "alert" || change.kind === "acknowledged") touched = true;
      if (kind === "queue" && change.ticket !== null) touched = true;
      if (ticket !== null && change.ticket === ticket) {
        touched = true;
        if (!change.me) here = change;
      }
    });
    var mine = document.getElementById("live-mine");
    if (mine) {  // the "mine" view's count, on every page once something is assigned to the member
      mine.textContent = data.mine;
      document.getElementById("live-mine-link").hidden = !data.mine;
    }
    version = data.version;
    if (!touched) return Promise.resolve();
    return refresh().then(function (whole) {
      if (!here) return;
      var text = here.by_resident ? words.tResident : words.tColleague.replace("{who}", here.by);
      say(text, !whole);
    });
  }

  function poll(delay) {
    setTimeout(function () {
      fetch("/staff/live?since=" + version, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (response.redirected) throw new Error("signed out");
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(handle)
        .then(function () { failures = 0; poll(0); }, function (error) {
          if (String(error.message) === "signed out") return;  // the session is over: the next page asks to sign in
          failures += 1;
          poll(Math.min(60000, 1000 * Math.pow(2, failures)));
        });
    }, delay);
  }

  poll(0);
}());
