// The widget's module rendered as anywidget renders it, against a model
// object of anywidget's interface wired to Python (see harness.py).
async ({esm, css, traits}) => {
  const handlers = new Map();
  const state = {...traits};
  const deliver = (messages) => {
    for (const m of messages) for (const fn of handlers.get("msg:custom") || []) fn(m, []);
  };
  const model = {
    get: (key) => state[key],
    set: (key, value) => { state[key] = value; },
    save_changes: () => window.pySave(state),
    on: (event, fn) => { if (!handlers.has(event)) handlers.set(event, new Set()); handlers.get(event).add(fn); },
    off: (event, fn) => { if (handlers.has(event)) handlers.get(event).delete(fn); },
    send: (content) => { window.pySend(content).then(deliver); },
  };
  window.__poll = setInterval(() => window.pyPoll().then(deliver), 50);
  const style = document.createElement("style");
  style.textContent = css;
  document.head.append(style);
  const url = URL.createObjectURL(new Blob([esm], {type: "text/javascript"}));
  const module = await import(url);
  window.__cleanup = await module.default.render({model, el: document.getElementById("root")});
}
