// The load-balancer list, refreshed every few seconds.

import { get, scoped } from "./api.js";
import { badge, h, mount, table } from "./dom.js";

const REFRESH_MS = 2000;

export function showList(root) {
  const body = h("div", { id: "lb-list" }, h("p", { class: "muted" }, "Loading…"));
  const stamp = h("span", { class: "muted", id: "refreshed" });
  mount(root,
    h("div", { class: "row spread" }, h("h1", {}, "Load balancers"),
      h("div", { class: "row" }, stamp, h("a", { class: "button primary", href: "#/create", id: "create-lb" },
        "Create load balancer"))),
    h("div", { class: "panel" }, body));

  async function refresh() {
    try {
      const { loadbalancers } = await get(scoped("/v2/lbaas/loadbalancers?sort=created_at:desc"));
      mount(body, table([
        ["Name", (lb) => h("a", { href: `#/lb/${lb.id}`, class: "lb-name" }, lb.name || lb.id)],
        ["VIP address", (lb) => h("span", { class: "mono" }, lb.vip_address || "")],
        ["Provisioning", (lb) => badge(lb.provisioning_status, { class: `badge ${lb.provisioning_status} prov` })],
        ["Operating", (lb) => badge(lb.operating_status, { class: `badge ${lb.operating_status} oper` })],
        ["Provider", (lb) => lb.provider],
        ["Created", (lb) => h("span", { class: "muted" }, (lb.created_at || "").replace("T", " "))],
      ], loadbalancers, { id: "lb-table" }));
      stamp.textContent = `refreshed ${new Date().toLocaleTimeString()}`;
    } catch (err) {
      mount(body, h("div", { class: "error" }, err.message));
    }
  }
  refresh();
  const timer = setInterval(refresh, REFRESH_MS);
  return () => clearInterval(timer);
}
