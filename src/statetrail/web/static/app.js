// The served page: the timeline component over the JSON API.
import { httpSource } from "./http.js";
import { mount } from "./timeline.js";

mount(document.getElementById("app"), httpSource());
