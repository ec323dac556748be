// Live updates for the console (server-sent events). No framework: a session page reloads
// its conversation when the session changes; the events page prepends each event.
"use strict";

function liveConversation(box) {
  const source = new EventSource(box.dataset.live);
  let pending = false;
  source.addEventListener("changed", async () => {
    if (pending) return;
    pending = true;
    try {
      const reply = await fetch(box.dataset.src, { credentials: "same-origin" });
      if (reply.ok) box.innerHTML = await reply.text();
    } finally {
      pending = false;
    }
  });
}

function liveEvents(body) {
  const source = new EventSource(body.dataset.live);
  const columns = ["cursor", "time", "type", "pool", "session", "participant", "proxy_number", "reason"];
  source.addEventListener("event", (message) => {
    const event = JSON.parse(message.data);
    const row = document.createElement("tr");
    row.dataset.testid = "event";
    for (const column of columns) {
      const cell = document.createElement("td");
      if (column === "session" && event.session) {
        const link = document.createElement("a");
        link.href = "/sessions/" + encodeURIComponent(event.session);
        link.textContent = event.session.slice(0, 8) + "…";
        cell.appendChild(link);
      } else {
        cell.textContent = String(event[column] ?? "");
      }
      row.appendChild(cell);
    }
    body.prepend(row);
    while (body.rows.length > 200) body.deleteRow(body.rows.length - 1);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const box = document.getElementById("conversation");
  if (box) liveConversation(box);
  const events = document.getElementById("event-rows");
  if (events) liveEvents(events);
});
