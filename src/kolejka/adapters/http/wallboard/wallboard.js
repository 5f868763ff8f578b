// The wallboard: one EventSource on /api/wallboard/stream, every event the whole board.
// Waits are counted here, each second, on the server's clock (each event carries its time).
"use strict";

(() => {
  const TEXT = {
    en: {
      title: "Waiting callers",
      waiting: "Waiting",
      longest: "Longest wait",
      approx: "Expected wait",
      phone: "Phone number",
      customer: "Customer",
      wait: "Waiting",
      empty: "Nobody is waiting.",
      noQueues: "No queues yet.",
      withheld: "Number withheld",
      unknown: "—",
      live: "Live",
      connecting: "Connecting…",
      reconnecting: "Reconnecting…",
      offline: "No connection, retrying…",
      agents: "Agents",
      noAgents: "No agent is logged in.",
      freeOf: "free",
      OFF: "Logged out",
      FREE: "Free",
      PAUSED: "Paused",
      RINGING: "Ringing",
      INBOUND_CALL: "On a call",
      OUTBOUND_CALL: "Outbound call",
      OUTBOUND_PREVIEW: "Preview",
      CALL: "On a call",
      abandoned: "Abandoned today, not reached",
      times: "Times",
      lastAttempt: "Last attempt",
      noAbandoned: "Nobody to call back.",
      callbacksDue: "Callbacks due next",
      dialling: "Ringing now",
      dueNow: "due",
      attempt: "attempt",
      attempts: "attempts",
      attemptsMany: "attempts",
    },
    pl: {
      title: "Oczekujący",
      waiting: "W kolejce",
      longest: "Najdłużej czeka",
      approx: "Przewidywane oczekiwanie",
      phone: "Numer telefonu",
      customer: "Klient",
      wait: "Czeka",
      empty: "Nikt nie czeka.",
      noQueues: "Nie ma jeszcze kolejek.",
      withheld: "Numer zastrzeżony",
      unknown: "—",
      live: "Na żywo",
      connecting: "Łączenie…",
      reconnecting: "Ponowne łączenie…",
      offline: "Brak połączenia, ponawiam…",
      agents: "Agenci",
      noAgents: "Żaden agent nie jest zalogowany.",
      freeOf: "wolnych",
      OFF: "Wylogowany",
      FREE: "Wolny",
      PAUSED: "Przerwa",
      RINGING: "Dzwoni",
      INBOUND_CALL: "Rozmawia",
      OUTBOUND_CALL: "Połączenie wychodzące",
      OUTBOUND_PREVIEW: "Podgląd",
      CALL: "Rozmawia",
      abandoned: "Porzucone dziś, bez kontaktu",
      times: "Razy",
      lastAttempt: "Ostatnia próba",
      noAbandoned: "Nie ma do kogo oddzwonić.",
      callbacksDue: "Najbliższe oddzwonienia",
      dialling: "Dzwonimy",
      dueNow: "teraz",
      attempt: "próba",
      attempts: "próby",
      attemptsMany: "prób",
    },
  };

  const params = new URLSearchParams(location.search);
  const token = params.get("token");
  const shown = new Set(
    (params.get("queues") || "")
      .split(",")
      .map((id) => parseInt(id, 10))
      .filter((id) => id > 0),
  );
  const seconds = (name, fallback) => {
    const value = parseInt(params.get(name) || "", 10);
    return value > 0 ? value : fallback;
  };
  const WARN = seconds("warn", 60) * 1000;
  const ALERT = seconds("alert", 180) * 1000;

  const board = document.getElementById("board");
  const tileTemplate = document.getElementById("tile");
  const statusBox = document.getElementById("status");
  const statusText = document.getElementById("status-text");
  const clock = document.getElementById("clock");
  const nothing = document.getElementById("nothing");

  let language = chooseLanguage();
  let latest = null; // the last board received
  let skew = 0; // the browser's clock minus the server's, in ms
  let state = "connecting";
  let source = null;
  let retryDelay = 1000;
  let retryTimer = 0;

  function chooseLanguage() {
    const asked = params.get("lang") || safeStorage("get");
    if (asked === "pl" || asked === "en") return asked;
    for (const tag of navigator.languages || [navigator.language || "en"]) {
      const primary = tag.toLowerCase().split("-")[0];
      if (primary === "pl" || primary === "en") return primary;
    }
    return "en";
  }

  function safeStorage(action, value) {
    try {
      if (action === "get") return localStorage.getItem("kolejka.language");
      localStorage.setItem("kolejka.language", value);
    } catch (_) {
      // Private windows and some TV browsers refuse storage; the choice then lasts the visit.
    }
    return null;
  }

  const t = (key) => TEXT[language][key];

  // "YYYY-MM-DD HH:MM:SS" on the service's wall clock, read as if UTC: only differences matter.
  function wall(text) {
    const m = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)$/.exec(text || "");
    return m ? Date.UTC(+m[1], m[2] - 1, +m[3], +m[4], +m[5], +m[6]) : NaN;
  }

  const serverNow = () => Date.now() - skew;
  const two = (n) => String(n).padStart(2, "0");

  function duration(ms) {
    if (!Number.isFinite(ms)) return "–";
    const total = Math.max(0, Math.floor(ms / 1000));
    const h = Math.floor(total / 3600);
    const m = Math.floor((total % 3600) / 60);
    const s = total % 60;
    return h ? `${h}:${two(m)}:${two(s)}` : `${m}:${two(s)}`;
  }

  // approx_wait_time comes as HH:MM:SS; shown like the waits beside it.
  function hms(text) {
    const m = /^(\d+):(\d\d):(\d\d)$/.exec(text || "");
    return m ? duration(((+m[1] * 60 + +m[2]) * 60 + +m[3]) * 1000) : "–";
  }

  function setStatus(next) {
    state = next;
    statusBox.dataset.state = next;
    statusText.textContent = t(next);
    document.body.classList.toggle("stale", next !== "live");
  }

  function translate() {
    document.documentElement.lang = language;
    document.title = `kolejka · ${t("title")}`;
    for (const node of document.querySelectorAll("[data-text]")) {
      node.textContent = t(node.dataset.text);
    }
    for (const button of document.querySelectorAll("[data-lang]")) {
      button.setAttribute("aria-pressed", String(button.dataset.lang === language));
    }
    statusText.textContent = t(state);
  }

  function tileFor(queueId) {
    let tile = board.querySelector(`.tile[data-queue-id="${queueId}"]`);
    if (!tile) {
      tile = tileTemplate.content.firstElementChild.cloneNode(true);
      tile.dataset.queueId = String(queueId);
      for (const node of tile.querySelectorAll("[data-text]")) {
        node.textContent = t(node.dataset.text);
      }
    }
    return tile;
  }

  // The customer's cell of a caller's row: the CRM's name, or "unknown" when none (or several)
  // own the number.
  function customerCell(caller) {
    const label = document.createElement("td");
    label.className = "label";
    if (caller.customer_label) {
      label.textContent = caller.customer_label;
      label.dataset.customerId = String(caller.customer_id);
    } else {
      label.textContent = t("unknown");
      label.classList.add("none");
    }
    return label;
  }

  function callerRow(caller) {
    const row = document.createElement("tr");
    row.className = "caller";
    row.dataset.phone = caller.phone_number;
    row.dataset.started = String(wall(caller.started_at));
    const phone = document.createElement("td");
    phone.className = "phone";
    if (caller.phone_number) {
      phone.textContent = caller.phone_number;
    } else {
      phone.textContent = t("withheld");
      phone.classList.add("withheld");
    }
    const label = customerCell(caller);
    const wait = document.createElement("td");
    wait.className = "wait";
    const waited = document.createElement("span");
    waited.className = "waited";
    wait.append(waited);
    row.append(phone, label, wait);
    return row;
  }

  // Each waiting caller's place (GET /api/queues/{id}/callers): the position, the expected
  // wait (the wait counted here plus the board's `remaining_wait`, under the wait) and a mark
  // on a number that called before today. Added to the rows callerRow made, found by number
  // and time.
  Object.assign(TEXT.en, {
    position: "#",
    expected: "Expected",
    calledBefore: (n) => (n === 1 ? "Called once before today" : `Called ${n} times before today`),
  });
  Object.assign(TEXT.pl, {
    position: "#",
    expected: "Prognoza",
    calledBefore: (n) => (n === 1 ? "Dzwonił dziś już raz" : `Dzwonił dziś już ${n} razy`),
  });

  function markCallers(tile, callers) {
    const byRow = new Map();
    for (const caller of callers || []) {
      byRow.set(`${caller.phone_number}|${wall(caller.started_at)}`, caller);
    }
    for (const row of tile.querySelectorAll("tr.caller")) {
      const caller = byRow.get(`${row.dataset.phone}|${row.dataset.started}`);
      const position = document.createElement("td");
      position.className = "position";
      position.textContent = caller ? String(caller.position) : "";
      const expected = document.createElement("span");
      expected.className = "expected";
      const remaining = caller ? caller.remaining_wait : null;
      row.dataset.remaining = remaining === null || remaining === undefined ? "" : String(remaining * 1000);
      row.prepend(position);
      row.querySelector("td.wait").append(expected);
      if (caller && caller.calls_today > 0) {
        const mark = document.createElement("span");
        mark.className = "repeat";
        mark.textContent = `↻${caller.calls_today}`;
        mark.title = t("calledBefore")(caller.calls_today);
        mark.setAttribute("aria-label", mark.title);
        row.classList.add("repeat-caller");
        row.querySelector(".phone").append(" ", mark);
      }
    }
  }

  // Each second: the expected wait grows with the wait until the queue's pace changes.
  function tickExpected(row, waited) {
    const cell = row.querySelector(".expected");
    if (!cell) return;
    const remaining = row.dataset.remaining;
    cell.textContent = remaining ? duration(waited + Number(remaining)) : "";
  }

  // One agent: name, state (with the pause's name), and time in state, counted by tick().
  function agentItem(agent) {
    const item = document.createElement("li");
    item.className = "agent";
    item.dataset.login = agent.login;
    item.dataset.status = agent.status;
    item.dataset.since = String(wall(agent.last_change));
    const name = document.createElement("span");
    name.className = "agent-name";
    name.textContent = [agent.name, agent.surname].filter(Boolean).join(" ") || agent.login;
    const state = document.createElement("span");
    state.className = "agent-state";
    state.textContent = t(agent.status) || agent.status;
    if (agent.status === "PAUSED" && agent.pause) {
      const reason = document.createElement("span");
      reason.className = "agent-pause";
      reason.textContent = agent.pause;
      state.append(" · ", reason);
    }
    const since = document.createElement("span");
    since.className = "in-state";
    item.append(name, state, since);
    return item;
  }

  function renderAgents(tile, agents) {
    const list = agents || [];
    tile.querySelector(".agent-list").replaceChildren(...list.map(agentItem));
    const free = list.filter((agent) => agent.status === "FREE").length;
    const counter = tile.querySelector(".free-agents");
    counter.textContent = `${free}/${list.length} ${t("freeOf")}`;
    tile.querySelector(".agents").classList.toggle("nobody", list.length === 0);
  }

  // Today's callers who gave up and were not reached since: the newest few, and how many.
  function abandonedRow(caller) {
    const row = document.createElement("tr");
    row.className = "abandoned-caller";
    row.dataset.phone = caller.phone_number;
    const phone = document.createElement("td");
    phone.className = "phone";
    phone.textContent = caller.phone_number;
    const label = customerCell(caller);
    const times = document.createElement("td");
    times.className = "times";
    times.textContent = `×${caller.times_abandoned}`;
    const last = document.createElement("td");
    last.className = "last";
    last.textContent = (caller.last_attempt_at || "").slice(11, 16);
    row.append(phone, label, times, last);
    return row;
  }

  function renderAbandoned(tile, abandoned) {
    const list = (abandoned && abandoned.callers) || [];
    const count = (abandoned && abandoned.count) || 0;
    tile.querySelector(".abandoned-list tbody").replaceChildren(...list.map(abandonedRow));
    tile.querySelector(".abandoned-count").textContent = String(count);
    tile.querySelector(".abandoned").classList.toggle("nobody", count === 0);
  }

  // The queue's callbacks due next: when (the wall clock's HH:MM, or "due" once past: it waits
  // for its turn), the number and the CRM's name, and the attempts made so far.
  function callbackItem(callback) {
    const item = document.createElement("li");
    item.className = "callback";
    item.dataset.callbackId = String(callback.callback_id);
    item.dataset.state = callback.state;
    item.dataset.due = String(wall(callback.call_at));
    const due = document.createElement("span");
    due.className = "callback-due";
    const who = document.createElement("span");
    who.className = "callback-who";
    who.textContent = callback.phone_number || t("withheld");
    if (callback.customer_label) {
      const name = document.createElement("span");
      name.className = "callback-name";
      name.textContent = callback.customer_label;
      who.append(" · ", name);
    }
    const tries = document.createElement("span");
    tries.className = "callback-attempts";
    if (callback.attempts > 0) {
      tries.textContent = `${callback.attempts} ${t(attemptsWord(callback.attempts))}`;
    }
    item.append(due, who, tries);
    return item;
  }

  // Polish counts 1 próba, 2-4 próby, 5-21 prób (22-24 próby again); English 1 attempt, 2 attempts.
  function attemptsWord(n) {
    if (n === 1) return "attempt";
    const tens = n % 100;
    const ones = n % 10;
    return ones >= 2 && ones <= 4 && (tens < 12 || tens > 14) ? "attempts" : "attemptsMany";
  }

  function renderCallbacks(tile, callbacks) {
    const list = callbacks || [];
    tile.querySelector(".callback-list").replaceChildren(...list.map(callbackItem));
    tile.querySelector(".callbacks-due").classList.toggle("some", list.length > 0);
  }

  // Each second, with the waits: a due time reads "due" once it has passed.
  function tickCallbacks(tile, now) {
    for (const item of tile.querySelectorAll("li.callback")) {
      const due = Number(item.dataset.due);
      const late = Number.isFinite(due) && due <= now;
      item.classList.toggle("overdue", late && item.dataset.state !== "dialling");
      const text =
        item.dataset.state === "dialling"
          ? t("dialling")
          : late
            ? t("dueNow")
            : new Date(due).toISOString().slice(11, 16);
      item.querySelector(".callback-due").textContent = text;
    }
  }

  function render() {
    if (!latest) return;
    const queues = latest.queues.filter((q) => shown.size === 0 || shown.has(q.queue_id));
    const tiles = queues.map((queue) => {
      const tile = tileFor(queue.queue_id);
      tile.querySelector(".queue-name").textContent = queue.name;
      tile.querySelector(".in-queue").textContent = String(queue.waiting_list.length);
      tile.querySelector(".approx-wait").textContent = hms(queue.waiting_stats.approx_wait_time);
      // The API lists the newest caller first; the board puts who waits longest on top.
      const rows = queue.waiting_list.slice().reverse().map(callerRow);
      tile.querySelector("tbody").replaceChildren(...rows);
      markCallers(tile, queue.callers);
      tile.classList.toggle("idle", rows.length === 0);
      renderAgents(tile, queue.agents);
      renderAbandoned(tile, queue.abandoned);
      renderCallbacks(tile, queue.callbacks_due);
      return tile;
    });
    board.replaceChildren(...tiles);
    nothing.hidden = tiles.length > 0;
    tick();
  }

  // Each second: the waits, the longest wait of each queue, and the clock.
  function tick() {
    const now = serverNow();
    if (latest) clock.textContent = new Date(now).toISOString().slice(11, 19);
    for (const tile of board.children) {
      let longest = -Infinity;
      for (const row of tile.querySelectorAll("tr.caller")) {
        const waited = now - Number(row.dataset.started);
        longest = Math.max(longest, waited);
        row.querySelector(".waited").textContent = duration(waited);
        tickExpected(row, waited);
      }
      const any = Number.isFinite(longest);
      tile.querySelector(".longest-wait").textContent = any ? duration(longest) : "–";
      tile.classList.toggle("warn", any && longest >= WARN && longest < ALERT);
      tile.classList.toggle("alert", any && longest >= ALERT);
      for (const agent of tile.querySelectorAll("li.agent")) {
        agent.querySelector(".in-state").textContent = duration(now - Number(agent.dataset.since));
      }
      tickCallbacks(tile, now);
    }
  }

  function connect() {
    clearTimeout(retryTimer);
    if (source) source.close();
    const url = `/api/wallboard/stream${token ? `?token=${encodeURIComponent(token)}` : ""}`;
    source = new EventSource(url);
    source.onopen = () => {
      retryDelay = 1000;
      setStatus("live");
    };
    source.onmessage = (event) => {
      const data = JSON.parse(event.data);
      const now = wall(data.now);
      if (Number.isFinite(now)) skew = Date.now() - now;
      latest = data;
      render();
      setStatus("live");
    };
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up (an error answer, or a proxy's page while the server is down):
        // keep trying, more slowly each time, so the screen comes back by itself.
        setStatus("offline");
        retryTimer = setTimeout(connect, retryDelay);
        retryDelay = Math.min(retryDelay * 2, 30000);
      } else {
        setStatus("reconnecting");
      }
    };
  }

  for (const button of document.querySelectorAll("[data-lang]")) {
    button.addEventListener("click", () => {
      language = button.dataset.lang;
      safeStorage("set", language);
      translate();
      render();
    });
  }

  translate();
  setStatus("connecting");
  connect();
  setInterval(tick, 1000);
})();
