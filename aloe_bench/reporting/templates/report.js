(function () {
  "use strict";
  // Every string from models, simulators, judges and personas goes through textContent: never
  // innerHTML, so markup in a transcript shows as text and cannot run.
  var data = JSON.parse(document.getElementById("aloe-data").textContent);
  var convs = data.conversations;
  var list = document.getElementById("conv-items");
  var view = document.getElementById("conv-view");
  var filter = document.getElementById("conv-filter");
  var sorter = document.getElementById("conv-sort");
  var count = document.getElementById("conv-count");
  var shown = [];
  var current = null;

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function fmt(x, digits) { return x === null || x === undefined ? "\u2014" : x.toFixed(digits); }
  function scoreClass(s) { return s === null || s === undefined ? "sna" : "s" + Math.min(5, Math.max(1, Math.round(s))); }

  convs.forEach(function (c, i) {
    c.order = i;
    var parts = [c.persona, c.profile || "", c.personality || ""];
    if (c.drift) parts.push(c.drift.persona, c.drift.profile || "", c.drift.personality || "");
    c.turns.forEach(function (t) {
      parts.push(t.user || "", t.reply || "");
      t.scores.forEach(function (s) { parts.push(s.r || ""); });
    });
    c.hay = parts.join("\n").toLowerCase();
  });

  function visible() {
    var q = filter.value.trim().toLowerCase();
    var out = convs.filter(function (c) { return !q || c.hay.indexOf(q) !== -1; });
    var mode = sorter.value;
    out.sort(function (a, b) {
      if (mode === "order") return a.order - b.order;
      var x = a.mean === null ? (mode === "low" ? 99 : -99) : a.mean;
      var y = b.mean === null ? (mode === "low" ? 99 : -99) : b.mean;
      return (mode === "low" ? x - y : y - x) || a.order - b.order;
    });
    return out;
  }

  function renderList() {
    shown = visible();
    list.textContent = "";
    count.textContent = shown.length + " of " + convs.length + " conversations";
    shown.forEach(function (c) {
      var li = el("li");
      li.setAttribute("role", "option");
      li.setAttribute("data-id", c.id);
      li.setAttribute("aria-selected", current === c ? "true" : "false");
      li.appendChild(el("span", "p", c.persona));
      li.appendChild(el("span", "m", "mean " + fmt(c.mean, 2) + " \u00b7 " + c.turns.length + (c.ended ? "t, ended" : "t")));
      li.addEventListener("click", function () { show(c); });
      list.appendChild(li);
    });
  }

  function show(c) {
    current = c;
    Array.prototype.forEach.call(list.children, function (li) {
      li.setAttribute("aria-selected", li.getAttribute("data-id") === c.id ? "true" : "false");
    });
    view.textContent = "";
    view.appendChild(el("h3", null, "Persona " + c.persona));
    view.appendChild(el("p", "muted", "Conversation " + c.id + " \u00b7 mean score " + fmt(c.mean, 2) +
      " over " + c.n_scored + " scored turns" + (c.ended ? " \u00b7 ended early at turn " + c.ended : "")));
    if (c.profile !== null || c.personality !== null) {
      var persona = el("div", "persona");
      var prof = el("div"); prof.appendChild(el("b", null, "Profile")); prof.appendChild(document.createTextNode(c.profile || "\u2014"));
      var pers = el("div"); pers.appendChild(el("b", null, "Personality")); pers.appendChild(document.createTextNode(c.personality || "\u2014"));
      persona.appendChild(prof); persona.appendChild(pers);
      view.appendChild(persona);
    }
    c.turns.forEach(function (t) {
      if (c.drift && t.k === c.drift.at) {
        // The persona drift: from this turn on the simulator plays, and the judge scores against, another persona.
        var change = el("div", "persona drift");
        change.appendChild(el("b", null, "The user changes here (persona drift at turn " + c.drift.at + "): now " + c.drift.persona));
        var np = el("div"); np.appendChild(el("b", null, "Profile")); np.appendChild(document.createTextNode(c.drift.profile || "\u2014"));
        var nq = el("div"); nq.appendChild(el("b", null, "Personality")); nq.appendChild(document.createTextNode(c.drift.personality || "\u2014"));
        change.appendChild(np); change.appendChild(nq);
        view.appendChild(change);
      }
      var box = el("div", "turn");
      box.setAttribute("data-turn", t.k);
      box.appendChild(el("h4", null, "Turn " + t.k));
      var u = el("div", "msg user"); u.appendChild(el("span", "who", "Simulated user")); u.appendChild(document.createTextNode(t.user || ""));
      box.appendChild(u);
      if (t.reply !== null) {
        var r = el("div", "msg reply"); r.appendChild(el("span", "who", "Model")); r.appendChild(document.createTextNode(t.reply));
        box.appendChild(r);
      }
      if (t.status !== "ok") box.appendChild(el("p", "err", t.status.replace("_", " ") + (t.error ? ": " + t.error : "")));
      if (t.status === "ok" && !t.scores.length) box.appendChild(el("p", "muted", "Not scored."));
      t.scores.forEach(function (s) {
        var j = el("div", "judge");
        j.appendChild(el("span", "score " + scoreClass(s.s), s.s === null ? "n/a" : fmt(s.s, s.s % 1 ? 1 : 0)));
        var text = s.s === null ? "No valid score (left out of AL). The judge answered: " + (s.r || "(nothing)") : (s.r || "(no rationale)");
        j.appendChild(el("span", "rationale", (t.scores.length > 1 ? "[sample " + s.sample + "] " : "") + text));
        box.appendChild(j);
      });
      if (t.malformed) box.appendChild(el("p", "err", "Malformed output (" + t.malformed + "): the user and the judge saw its response, or its text without the profile and the tags."));
      if (t.output !== undefined && t.output !== null) {
        var whole = el("details", "output");
        whole.appendChild(el("summary", null, "The model's whole output (the user and the judge saw only the response)"));
        whole.appendChild(el("pre", null, t.output));
        box.appendChild(whole);
      }
      if (t.profile) {
        var p = t.profile;
        var pb = el("div", "profile");
        var head = "Inferred profile (" + (p.source === "probe" ? "probe" : "from the reply") + ")";
        if (p.status === "ok") head += " \u00b7 F1 " + fmt(p.f1, 2) + " \u00b7 covers " + p.covered + " of " + p.golden + " golden facts";
        else if (p.status === "malformed") head += " \u00b7 malformed (" + (p.malformed || "no profile") + "): F1 0";
        else if (p.status === "unreadable") head += " \u00b7 coverage count unreadable (left out of PF1)";
        else head += " \u00b7 " + p.status.replace("_", " ") + (p.error ? ": " + p.error : "");
        pb.appendChild(el("b", null, head));
        if (p.lines && p.lines.length) {
          var ul = el("ul");
          p.lines.forEach(function (line) { ul.appendChild(el("li", null, line)); });
          pb.appendChild(ul);
        } else if (p.lines) pb.appendChild(el("div", "muted", "(empty: nothing inferred yet)"));
        box.appendChild(pb);
      }
      view.appendChild(box);
    });
    if (history.replaceState) history.replaceState(null, "", "#conv=" + encodeURIComponent(c.id));
  }

  function step(delta) {
    if (!shown.length) return;
    var i = shown.indexOf(current);
    var next = shown[Math.max(0, Math.min(shown.length - 1, (i < 0 ? 0 : i + delta)))];
    show(next);
    var li = list.querySelector('li[aria-selected="true"]');
    if (li && li.scrollIntoView) li.scrollIntoView({block: "nearest"});
  }

  filter.addEventListener("input", renderList);
  sorter.addEventListener("change", renderList);
  list.setAttribute("tabindex", "0");
  list.addEventListener("keydown", function (e) {
    if (e.key === "ArrowDown" || e.key === "j") { step(1); e.preventDefault(); }
    if (e.key === "ArrowUp" || e.key === "k") { step(-1); e.preventDefault(); }
  });

  renderList();
  var wanted = /^#conv=(.+)$/.exec(location.hash);
  var first = wanted ? convs.filter(function (c) { return c.id === decodeURIComponent(wanted[1]); })[0] : null;
  if (first || convs.length) show(first || convs[0]);
})();
