// Hash routes: #/ (list), #/lb/<id> (detail), #/create (wizard); the log-in form until an identity is picked.

import { auth, config } from "./api.js";
import { h, mount } from "./dom.js";
import { showDetail } from "./detail.js";
import { showList } from "./list.js";
import { showLogin } from "./login.js";
import { showWizard } from "./wizard.js";

const app = document.getElementById("app");
let settings = null;
let leave = null; // the current page's clean-up: stops its polling

function showWho() {
  const who = auth.load();
  const box = document.getElementById("who");
  if (!who) { mount(box); return; }
  const label = who.mode === "keystone" ? "token" : "project";
  const value = who.mode === "keystone" ? `${who.token.slice(0, 8)}…` : who.project;
  mount(box, h("span", {}, `${label} `, h("code", { id: "who-value" }, value)),
    h("button", { id: "logout", onclick: () => { auth.clear(); route(); } },
      who.mode === "keystone" ? "Log out" : "Switch project"));
}

async function route() {
  if (leave) leave();
  leave = null;
  settings ??= await config();
  showWho();
  if (!auth.load()) {
    leave = showLogin(app, settings, () => { location.hash = "#/"; route(); });
    return;
  }
  const hash = location.hash.replace(/^#/, "") || "/";
  const detail = hash.match(/^\/lb\/([0-9a-f-]+)$/);
  if (detail) leave = showDetail(app, detail[1]);
  else if (hash === "/create") leave = showWizard(app);
  else leave = showList(app);
}

window.addEventListener("hashchange", route);
route();
