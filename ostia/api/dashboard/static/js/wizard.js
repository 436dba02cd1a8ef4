// The create wizard: five steps as in Horizon, one single-call create, the API's message beside its step.

import { call, get } from "./api.js";
import { h, mount } from "./dom.js";
import { STEPS, createBody, stepActive, stepOfError } from "./wizard_steps.js";

function initial() {
  const all = {};
  for (const step of STEPS) {
    all[step.id] = {};
    for (const field of step.fields) {
      if (field.type === "checks") all[step.id][field.key] = {};
      else all[step.id][field.key] = field.value ?? (field.type === "select" && Array.isArray(field.options)
        ? field.options[0] : "");
    }
  }
  all.members = [];
  return all;
}

async function choices() {
  const pick = async (path, key, label) => {
    try { return (await get(path))[key].map(label); } catch { return []; }
  };
  const [subnets, flavors, zones] = await Promise.all([
    pick("/v2.0/subnets", "subnets", (s) => [s.id, `${s.name || s.id} (${s.cidr})`]),
    pick("/v2/lbaas/flavors", "flavors", (f) => [f.id, f.name || f.id]),
    pick("/v2/lbaas/availabilityzones", "availability_zones", (z) => [z.name, z.name])]);
  return { subnets, flavors, zones };
}

function input(field, values, stepId, options, onChange) {
  const id = `${stepId}-${field.key}`;
  const set = (value) => { values[field.key] = value; onChange(field); };
  if (field.type === "checkbox") {
    return h("input", { id, type: "checkbox", checked: Boolean(values[field.key]),
      onchange: (e) => set(e.target.checked) });
  }
  if (field.type === "checks") {
    return h("div", { class: "checks", id }, field.options.map((opt) => h("label", {},
      h("input", { type: "checkbox", name: opt, checked: Boolean(values[field.key][opt]),
        onchange: (e) => { values[field.key][opt] = e.target.checked; onChange(field); } }), opt)));
  }
  if (field.type === "select") {
    const list = Array.isArray(field.options) ? field.options.map((o) => [o, o]) : options[field.options] || [];
    const all = field.blank ? [["", field.blank], ...list] : list;
    if (!field.blank && values[field.key] === "" && all.length) values[field.key] = all[0][0];
    return h("select", { id, onchange: (e) => set(e.target.value) }, all.map(([value, label]) =>
      h("option", { value, selected: value === values[field.key] ? true : undefined }, label)));
  }
  return h("input", { id, type: field.type === "number" ? "number" : "text", value: values[field.key] ?? "",
    oninput: (e) => { values[field.key] = e.target.value; } });
}

function fieldsForm(step, values, options, rerender) {
  const enabled = step.fields[0]?.key !== "enabled" || values.enabled;
  const rows = [];
  for (const field of step.fields) {
    if (field.when && !field.when(values)) continue;
    if (!enabled && field.key !== "enabled") continue;
    rows.push(h("label", { for: `${step.id}-${field.key}` }, field.label + (field.required ? " *" : "")),
      input(field, values, step.id, options, (f) => {
        if (f.derive) values[`${f.key}_touched`] = true; // the user's choice wins over the derived one
        rerender();
      }));
    if (field.hint) rows.push(h("div", { class: "hint" }, field.hint));
  }
  return h("div", { class: "form" }, rows);
}

function membersForm(all, options, rerender) {
  const subnets = options.subnets;
  const cell = (m, key, type = "text") => h("input", { type, value: m[key], class: `member-${key}`,
    oninput: (e) => { m[key] = e.target.value; } });
  const rows = all.members.map((m, i) => h("tr", {},
    h("td", {}, cell(m, "name")), h("td", {}, cell(m, "address")),
    h("td", {}, h("select", { class: "member-subnet_id", onchange: (e) => { m.subnet_id = e.target.value; } },
      [["", "—"], ...subnets].map(([value, label]) => h("option", { value, title: label,
        selected: value === m.subnet_id ? true : undefined }, label.split(" (")[0])))),
    h("td", {}, cell(m, "protocol_port", "number")), h("td", {}, cell(m, "weight", "number")),
    h("td", {}, h("button", { class: "remove-member", onclick: () => { all.members.splice(i, 1); rerender(); } }, "Remove"))));
  return h("div", {},
    h("p", { class: "muted" }, "Members receive the traffic of the pool: an address on one of the networks, the port " +
      "it listens on and its share of the traffic (weight)."),
    h("table", { class: "members", id: "members-form" },
      h("thead", {}, h("tr", {}, ["Name", "IP address", "Subnet", "Port", "Weight", ""].map((t) => h("th", {}, t)))),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 6, class: "muted" }, "No members yet.")))),
    h("p", {}, h("button", { id: "add-member", onclick: () => {
      all.members.push({ name: "", address: "", subnet_id: "", protocol_port: "", weight: "1" });
      rerender();
    } }, "Add member")));
}

export function showWizard(root) {
  const all = initial();
  let current = 0;
  let options = { subnets: [], flavors: [], zones: [] };
  let failure = null; // { step, message }
  let busy = false;

  function derive() {
    for (const step of STEPS) {
      for (const field of step.fields) {
        if (field.derive && !all[step.id][`${field.key}_touched`]) all[step.id][field.key] = field.derive(all);
      }
    }
  }

  async function submit() {
    busy = true;
    failure = null;
    render();
    try {
      const reply = await call("POST", "/v2/lbaas/loadbalancers", createBody(all));
      location.hash = `#/lb/${reply.loadbalancer.id}`;
    } catch (err) {
      const stepId = stepOfError(err.message);
      failure = { step: stepId, message: err.message };
      current = STEPS.findIndex((s) => s.id === stepId);
      busy = false;
      render();
    }
  }

  function render() {
    derive();
    const step = STEPS[current];
    const values = all[step.id];
    const active = STEPS.map((s) => stepActive(s, all));
    const go = (i) => { if (active[i]) { current = i; render(); } };
    const next = STEPS.findIndex((s, i) => i > current && active[i]);
    const prev = STEPS.map((s, i) => i).filter((i) => i < current && active[i]).pop();
    const body = step.members ? membersForm(all, options, render) : fieldsForm(step, values, options, render);
    mount(root,
      h("p", {}, h("a", { href: "#/" }, "← Load balancers")),
      h("h1", {}, "Create load balancer"),
      h("div", { class: "wizard" },
        h("ol", { class: "steps", id: "wizard-steps" }, STEPS.map((s, i) => h("li", {
          class: [i === current ? "current" : "", failure?.step === s.id ? "invalid" : ""].join(" ").trim(),
          style: active[i] ? undefined : "opacity:.45;cursor:default", dataset: { step: s.id },
          onclick: () => go(i) }, h("span", { class: "n" }, i + 1), s.title))),
        h("div", { class: "panel", id: `step-${step.id}`, dataset: { step: step.id } },
          h("h2", {}, step.title),
          failure?.step === step.id ? h("div", { class: "error", id: "step-error" }, failure.message) : null,
          body,
          h("div", { class: "wizard-actions" },
            h("button", { id: "wizard-back", disabled: prev === undefined ? true : undefined, onclick: () => go(prev) },
              "Back"),
            h("div", { class: "row" },
              h("a", { class: "button", href: "#/" }, "Cancel"),
              next >= 0 ? h("button", { id: "wizard-next", onclick: () => go(next) }, "Next") : null,
              h("button", { class: "primary", id: "wizard-create", disabled: busy ? true : undefined, onclick: submit },
                busy ? "Creating…" : "Create load balancer"))))));
  }

  render();
  choices().then((found) => { options = found; render(); });
  return null;
}
