// The engine page's live numbers. Every 2 seconds it reads /console/engine.json (the same
// view the page was rendered from) and writes each text into the element that shows it
// (data-model → data-stat, data-upstream → data-stat), only where it changed, so the polite
// live region announces what changed and nothing else. It waits while the tab is hidden
// and while "Pause updates" is pressed; a failed read says so and is tried again.
(() => {
  const root = document.getElementById("engine");
  const status = document.getElementById("engine-status");
  const pause = document.getElementById("engine-pause");
  if (!root || !status || !pause) return;
  const EVERY_MS = 2000;
  let timer = null;
  let paused = false;

  const write = (element, text) => {
    if (element && text !== undefined && element.textContent !== text) element.textContent = text;
  };
  const byAttribute = (parent, name, value) =>
    [...parent.querySelectorAll(`[${name}]`)].find((element) => element.getAttribute(name) === value);

  function show(view) {
    for (const model of view.models) {
      const card = byAttribute(root, "data-model", model.id);
      if (!card) continue;
      for (const element of card.querySelectorAll("[data-stat]")) {
        if (!element.closest("[data-upstream]")) write(element, model.texts[element.dataset.stat]);
      }
      const meter = card.querySelector("meter");
      if (meter && model.kv_use !== null) meter.value = model.kv_use;
      for (const upstream of model.upstreams) {
        const row = byAttribute(card, "data-upstream", upstream.url);
        if (!row) continue;
        for (const element of row.querySelectorAll("[data-stat]")) write(element, upstream.texts[element.dataset.stat]);
      }
    }
    write(status, `Live: updated every 2 seconds. Last update ${view.updated}.`);
  }

  async function update() {
    timer = null;
    try {
      // A session that has ended answers with a redirect to sign-in: not followed.
      const response = await fetch("/console/engine.json", {
        headers: { Accept: "application/json" }, cache: "no-store", redirect: "manual",
      });
      if (response.type === "opaqueredirect") {
        write(status, "Your session has ended: reload the page to sign in again.");
        return;
      }
      if (!response.ok) throw new Error(`the server answered ${response.status}`);
      show(await response.json());
    } catch (error) {
      write(status, `Could not update (${error.message}); trying again.`);
    }
    schedule();
  }

  function schedule() {
    if (timer === null && !paused && !document.hidden) timer = setTimeout(update, EVERY_MS);
  }

  function stop() {
    if (timer !== null) clearTimeout(timer);
    timer = null;
  }

  pause.hidden = false;
  pause.addEventListener("click", () => {
    paused = !paused;
    pause.setAttribute("aria-pressed", String(paused));
    pause.textContent = paused ? "Resume updates" : "Pause updates";
    if (paused) {
      stop();
      write(status, "Updates paused.");
    } else {
      update();
    }
  });
  document.addEventListener("visibilitychange", () => (document.hidden ? stop() : schedule()));
  write(status, "Live: updated every 2 seconds.");
  schedule();
})();
