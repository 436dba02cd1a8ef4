// One load balancer: facts, live statuses, the status tree, traffic, failover timeline, children, delete.

import { call, get } from "./api.js";
import { badge, h, mount, short, table } from "./dom.js";
import { TrafficGraph } from "./graph.js";

const POLL_MS = 2000;
const LB = "/v2/lbaas/loadbalancers";

function facts(lb) {
  const row = (label, value) => [h("dt", {}, label), h("dd", {}, value)];
  return h("dl", { class: "facts" },
    row("ID", h("span", { class: "mono" }, lb.id)),
    row("VIP address", h("span", { class: "mono", id: "vip" }, lb.vip_address || "")),
    row("VIP subnet", h("span", { class: "mono" }, lb.vip_subnet_id || "")),
    row("Provisioning status", badge(lb.provisioning_status, { class: `badge ${lb.provisioning_status}`, id: "lb-prov" })),
    row("Operating status", badge(lb.operating_status, { class: `badge ${lb.operating_status}`, id: "lb-oper" })),
    row("Admin state up", lb.admin_state_up ? "yes" : "no"),
    row("Provider", lb.provider || ""),
    row("Flavor", lb.flavor_id || "—"),
    row("Availability zone", lb.availability_zone || "—"),
    row("Description", lb.description || "—"));
}

function statusLine(kind, node, extra = "") {
  return [h("span", { class: "kind" }, kind), h("b", {}, node.name || short(node.id)), extra, " ",
    badge(node.provisioning_status), " ", badge(node.operating_status, {
      class: `badge ${node.operating_status}`, dataset: { kind, id: node.id, status: node.operating_status } })];
}

function statusTree(tree) {
  const member = (m) => h("li", {}, statusLine("member", m, ` ${m.address}:${m.protocol_port}`));
  const pool = (p) => h("li", {}, statusLine("pool", p),
    h("ul", {}, p.health_monitor ? h("li", {}, statusLine("monitor", p.health_monitor, ` ${p.health_monitor.type}`)) : null,
      (p.members || []).map(member)));
  const listener = (l) => h("li", {}, statusLine("listener", l), h("ul", {}, (l.pools || []).map(pool)));
  return h("ul", { class: "tree", id: "status-tree" },
    h("li", {}, statusLine("load balancer", tree), h("ul", {}, (tree.listeners || []).map(listener))));
}

function timeline(events) {
  if (events === null) return h("p", { class: "muted" }, "Only administrators can see the failover timeline.");
  if (!events.length) return h("p", { class: "muted", id: "no-failovers" }, "No failover so far.");
  return table([
    ["When", (e) => h("span", { class: "mono" }, e.at.replace("T", " ").slice(0, 23))],
    ["Stage", (e) => badge(e.stage)],
    ["Amphora", (e) => h("span", { class: "mono" }, short(e.amphora_id))],
    ["Detail", (e) => e.detail || ""],
  ], events, { id: "failover-table" });
}

function children(listeners, pools, members, monitors) {
  const status = (o) => [badge(o.provisioning_status), " ", badge(o.operating_status)];
  const named = (o) => o.name || short(o.id);
  const poolName = Object.fromEntries(pools.map((p) => [p.id, named(p)]));
  return [
    h("h2", {}, "Listeners"),
    table([["Name", named], ["Protocol", (l) => l.protocol], ["Port", (l) => l.protocol_port],
      ["Default pool", (l) => poolName[l.default_pool_id] || "—"],
      ["Connection limit", (l) => (l.connection_limit === -1 ? "unlimited" : l.connection_limit)],
      ["Status", status]], listeners, { id: "listeners-table" }),
    h("h2", { style: "margin-top:18px" }, "Pools"),
    table([["Name", named], ["Protocol", (p) => p.protocol], ["Algorithm", (p) => p.lb_algorithm],
      ["Session persistence", (p) => p.session_persistence?.type || "—"],
      ["Health monitor", (p) => {
        const hm = monitors.find((m) => m.id === p.healthmonitor_id);
        return hm ? `${hm.type} every ${hm.delay}s` : "—";
      }], ["Status", status]], pools, { id: "pools-table" }),
    h("h2", { style: "margin-top:18px" }, "Members"),
    table([["Name", named], ["Pool", (m) => poolName[m.pool_id] || ""],
      ["Address", (m) => h("span", { class: "mono" }, `${m.address}:${m.protocol_port}`)],
      ["Weight", (m) => m.weight], ["Status", status]], members, { id: "members-table" }),
  ];
}

function confirmDelete(lb, onDone) {
  const error = h("div");
  const close = () => backdrop.remove();
  const go = async () => {
    try {
      await call("DELETE", `${LB}/${lb.id}?cascade=true`);
      close();
      onDone();
    } catch (err) {
      mount(error, h("div", { class: "error" }, err.message));
    }
  };
  const backdrop = h("div", { class: "backdrop", id: "confirm-delete" }, h("div", { class: "modal" },
    h("h2", {}, "Delete load balancer"),
    h("p", {}, "Delete ", h("b", {}, lb.name || lb.id),
      " with all its listeners, pools, members and health monitors? This cannot be undone."),
    error,
    h("div", { class: "row" }, h("button", { onclick: close, id: "cancel-delete" }, "Cancel"),
      h("button", { class: "danger", onclick: go, id: "confirm-delete-button" }, "Delete"))));
  document.body.append(backdrop);
}

export function showDetail(root, id) {
  const graph = new TrafficGraph();
  const head = h("div", { class: "row spread" }, h("h1", {}, "Load balancer"));
  const factsBox = h("div");
  const treeBox = h("div");
  const childBox = h("div");
  const timelineBox = h("div");
  const notice = h("div");
  mount(root, h("p", {}, h("a", { href: "#/" }, "← Load balancers")), head, notice,
    h("div", { class: "grid2" },
      h("div", { class: "panel" }, h("h2", {}, "Overview"), factsBox),
      h("div", { class: "panel" }, h("h2", {}, "Status tree"), treeBox)),
    h("div", { class: "panel", style: "margin-top:16px" }, graph.el),
    h("div", { class: "panel" }, childBox),
    h("div", { class: "panel", id: "timeline" }, h("h2", {}, "Failover timeline"), timelineBox));
  let stopped = false;
  let lb = null;

  function header() {
    mount(head, h("h1", { id: "lb-title" }, lb.name || lb.id),
      h("button", { class: "danger", id: "delete-lb", onclick: () => confirmDelete(lb, () => {
        mount(notice, h("div", { class: "notice", id: "deleting" }, "Deleting…"));
      }), disabled: ["ACTIVE", "ERROR"].includes(lb.provisioning_status) ? undefined : true }, "Delete"));
  }

  async function poll() {
    try {
      lb = (await get(`${LB}/${id}`)).loadbalancer;
    } catch (err) {
      if (err.status === 404) {
        // Deleted (or never there): nothing below would be true any more, so only the notice stays.
        mount(root, h("p", {}, h("a", { href: "#/" }, "← Load balancers")),
          h("h1", {}, lb ? lb.name || lb.id : id),
          h("div", { class: "notice", id: "gone" }, "This load balancer no longer exists. Back to the list…"));
        stopped = true;
        setTimeout(() => { if (location.hash === `#/lb/${id}`) location.hash = "#/"; }, 1500);
      } else mount(notice, h("div", { class: "error" }, err.message));
      return;
    }
    header();
    mount(factsBox, facts(lb));
    const q = `?loadbalancer_id=${id}`;
    const [tree, stats, listeners, pools] = await Promise.all([
      get(`${LB}/${id}/status`), get(`${LB}/${id}/stats`), get(`/v2/lbaas/listeners${q}`),
      get(`/v2/lbaas/pools${q}`)]);
    mount(treeBox, statusTree(tree.statuses.loadbalancer));
    graph.add(stats.stats);
    const members = (await Promise.all(pools.pools.map((p) => get(`/v2/lbaas/pools/${p.id}/members`)
      .then((r) => r.members.map((m) => ({ ...m, pool_id: p.id }))).catch(() => [])))).flat();
    const monitors = await Promise.all(pools.pools.filter((p) => p.healthmonitor_id).map((p) =>
      get(`/v2/lbaas/healthmonitors/${p.healthmonitor_id}`).then((r) => r.healthmonitor).catch(() => null)));
    mount(childBox, children(listeners.listeners, pools.pools, members, monitors.filter(Boolean)));
    try {
      mount(timelineBox, timeline((await get(`${LB}/${id}/failover_timeline`)).failover_timeline));
    } catch (err) {
      mount(timelineBox, err.status === 403 ? timeline(null) : h("div", { class: "error" }, err.message));
    }
  }

  async function loop() {
    while (!stopped) {
      try { await poll(); } catch (err) { mount(notice, h("div", { class: "error" }, err.message)); }
      if (stopped) break;
      await new Promise((resolve) => { setTimeout(resolve, POLL_MS); });
    }
  }
  loop();
  return () => { stopped = true; };
}
