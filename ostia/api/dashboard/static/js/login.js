// "Pick a project" (noauth: the project goes out as X-Project-Id) or "log in with a token" (keystone).

import { auth } from "./api.js";
import { h, mount } from "./dom.js";

export function showLogin(root, settings, done) {
  const keystone = settings.auth_strategy === "keystone";
  const input = h("input", { id: keystone ? "token" : "project", name: keystone ? "token" : "project",
    type: keystone ? "password" : "text", autocomplete: "off",
    placeholder: keystone ? "a Keystone token (openstack token issue)" : "project id or name" });
  const submit = (event) => {
    event.preventDefault();
    const value = input.value.trim();
    if (!value) return;
    auth.save(keystone ? { mode: "keystone", token: value } : { mode: "noauth", project: value });
    done();
  };
  mount(root, h("div", { class: "panel login" },
    h("h1", {}, keystone ? "Log in with a token" : "Pick a project"),
    h("p", { class: "muted" }, keystone
      ? "The API checks the token with Keystone on every call; it is kept only in this browser tab."
      : `This API runs without authentication (${settings.auth_strategy}): the load balancers you see and create ` +
        "belong to the project you name here."),
    h("form", { id: "login-form", onsubmit: submit },
      h("div", { class: "row" }, input,
        h("button", { class: "primary", type: "submit", id: "login" }, keystone ? "Log in" : "Use project")))));
  input.focus();
  return null;
}
