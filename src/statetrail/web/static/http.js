// The timeline component's source over statetrail serve's JSON API: fetch for
// reads, EventSource for new revisions. URLs are relative ("api/..."), so the
// page also works behind a prefix.

/** An error the API answered with (its JSON "error" and the HTTP status). */
export class SourceError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

/** The source for the API under `base` (default: the page's own folder). */
export function httpSource(base = document.baseURI) {
  // A page opened with ?token= passes it on (the server also answers the
  // first such request with the HttpOnly cookie statetrail_token).
  const token = new URLSearchParams(location.search).get("token");

  function url(path, params = {}) {
    const u = new URL(path, base);
    for (const [key, value] of Object.entries(params)) {
      if (value !== undefined && value !== null && value !== "") u.searchParams.set(key, String(value));
    }
    if (token) u.searchParams.set("token", token);
    return u;
  }

  async function get(path, params) {
    const response = await fetch(url(path, params), {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    if (!response.ok) {
      const message = body && body.error ? body.error : `${response.status} ${response.statusText}`;
      throw new SourceError(message, response.status);
    }
    return body;
  }

  const at = (name) => `api/timelines/${encodeURIComponent(name)}`;

  return {
    timelines: () => get("api/timelines"),
    revisions: (name, filters = {}) => get(`${at(name)}/revisions`, filters),
    revision: (name, n) => get(`${at(name)}/revisions/${n}`),
    diff: (name, a, b) => get(`${at(name)}/diff`, { a, b }),
    blame: (name, path, number) => get(`${at(name)}/blame`, { path, at: number }),
    subscribe(name, after, onRevision) {
      let last = after;
      const events = new EventSource(url(`${at(name)}/events`, { after }));
      events.addEventListener("revision", (event) => {
        const rev = JSON.parse(event.data);
        if (rev.number <= last) return; // a resumed stream may repeat one
        last = rev.number;
        onRevision(rev);
      });
      return () => events.close();
    },
  };
}
