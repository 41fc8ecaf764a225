// The timeline component's source over an anywidget model (statetrail.widget):
// each read is a message to Python answered by one with the same id, and new
// revisions arrive as messages Python pushes. The widget's module is
// timeline.js followed by this file (Python drops the import below when it
// puts them together).
import { mount } from "./timeline.js";

/** The source that asks the widget's Python side through `model`. */
export function modelSource(model) {
  let next = 1;
  const pending = new Map();
  const listeners = new Set();

  function onMessage(message) {
    if (message === null || typeof message !== "object") return;
    if (message.event === "revision") {
      for (const listener of listeners) listener(message.revision);
      return;
    }
    const waiting = pending.get(message.id);
    if (!waiting) return;
    pending.delete(message.id);
    if ("error" in message) waiting.reject(new Error(message.error));
    else waiting.resolve(message.result);
  }
  model.on("msg:custom", onMessage);

  function call(method, ...args) {
    return new Promise((resolve, reject) => {
      const id = next++;
      pending.set(id, { resolve, reject });
      model.send({ id, method, args });
    });
  }

  return {
    timelines: () => call("timelines"),
    revisions: (name, filters = {}) => call("revisions", name, filters),
    revision: (name, n) => call("revision", name, n),
    diff: (name, a, b) => call("diff", name, a ?? null, b),
    blame: (name, path, at) => call("blame", name, path, at ?? null),
    subscribe(name, after, onRevision) {
      let last = after;
      const listener = (rev) => {
        if (rev.timeline !== name || rev.number <= last) return;
        last = rev.number;
        onRevision(rev);
      };
      listeners.add(listener);
      // Python sends what was recorded after `after` first, then each new one.
      model.send({ method: "subscribe", args: [name, after] });
      return () => listeners.delete(listener);
    },
    select: (name, n) => model.send({ method: "select", args: [name, n] }),
    close() {
      model.off("msg:custom", onMessage);
      listeners.clear();
    },
  };
}

export default {
  render({ model, el }) {
    const source = modelSource(model);
    const view = mount(el, source);
    return () => {
      view.destroy();
      source.close();
    };
  },
};
