// The create wizard's steps and fields, as in Horizon's Octavia panel, and the single-call create body.

const LISTENER_PROTOCOLS = ["HTTP", "HTTPS", "TCP", "TERMINATED_HTTPS", "UDP", "SCTP"];
const POOL_FOR_LISTENER = { HTTP: "HTTP", HTTPS: "HTTPS", TCP: "TCP", TERMINATED_HTTPS: "HTTP", UDP: "UDP",
  SCTP: "SCTP" };
const HTTPISH = ["HTTP", "TERMINATED_HTTPS"];
const MONITOR_TYPES = ["HTTP", "HTTPS", "PING", "TCP", "TLS-HELLO", "UDP-CONNECT", "SCTP"];

const adminState = { key: "admin_state_up", label: "Admin state up", type: "checkbox", value: true };
const name = { key: "name", label: "Name", type: "text" };
const description = { key: "description", label: "Description", type: "text" };
const make = (what) => ({ key: "enabled", label: `Create ${what}`, type: "checkbox", value: true, local: true });

// `when(values)`: the field shows (and is sent) only then; `local`: wizard state, never sent.
export const STEPS = [
  { id: "lb", title: "Load Balancer Details", fields: [
    name, description,
    { key: "vip_address", label: "IP address", type: "text", hint: "optional: an address in the subnet" },
    { key: "vip_subnet_id", label: "Subnet", type: "select", options: "subnets", required: true },
    { key: "flavor_id", label: "Flavor", type: "select", options: "flavors", blank: "None" },
    { key: "availability_zone", label: "Availability zone", type: "select", options: "zones", blank: "None" },
    adminState] },
  { id: "listener", title: "Listener Details", fields: [
    make("listener"), name, description,
    { key: "protocol", label: "Protocol", type: "select", options: LISTENER_PROTOCOLS, value: "HTTP" },
    { key: "protocol_port", label: "Port", type: "number", value: "80" },
    { key: "connection_limit", label: "Connection limit", type: "number", value: "-1", hint: "-1: unlimited" },
    { key: "timeout_client_data", label: "Client data timeout", type: "number", value: "50000", hint: "ms" },
    { key: "timeout_tcp_inspect", label: "TCP inspect timeout", type: "number", value: "0", hint: "ms" },
    { key: "timeout_member_connect", label: "Member connect timeout", type: "number", value: "5000", hint: "ms" },
    { key: "timeout_member_data", label: "Member data timeout", type: "number", value: "50000", hint: "ms" },
    { key: "insert_headers", label: "Insert headers", type: "checks",
      options: ["X-Forwarded-For", "X-Forwarded-Port", "X-Forwarded-Proto"], when: (v) => HTTPISH.includes(v.protocol) },
    { key: "allowed_cidrs", label: "Allowed CIDRs", type: "list", hint: "comma separated; empty: everyone" },
    { key: "default_tls_container_ref", label: "TLS certificate ref", type: "text",
      when: (v) => v.protocol === "TERMINATED_HTTPS" },
    { key: "sni_container_refs", label: "SNI certificate refs", type: "list", when: (v) => v.protocol === "TERMINATED_HTTPS" },
    { key: "client_authentication", label: "Client authentication", type: "select",
      options: ["NONE", "OPTIONAL", "MANDATORY"], when: (v) => v.protocol === "TERMINATED_HTTPS" },
    { key: "client_ca_tls_container_ref", label: "Client CA ref", type: "text",
      when: (v) => v.protocol === "TERMINATED_HTTPS" },
    { key: "client_crl_container_ref", label: "Client CRL ref", type: "text",
      when: (v) => v.protocol === "TERMINATED_HTTPS" },
    adminState] },
  { id: "pool", title: "Pool Details", needs: "listener", fields: [
    make("pool"), { ...name, hint: "a nested pool needs a name; blank: <load balancer>-pool" }, description,
    { key: "protocol", label: "Protocol", type: "select", options: ["HTTP", "HTTPS", "PROXY", "PROXYV2", "TCP", "UDP",
      "SCTP"], derive: (all) => POOL_FOR_LISTENER[all.listener.protocol] },
    { key: "lb_algorithm", label: "Algorithm", type: "select",
      options: ["ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP", "SOURCE_IP_PORT"] },
    { key: "persistence", label: "Session persistence", type: "select", local: true,
      options: ["None", "SOURCE_IP", "HTTP_COOKIE", "APP_COOKIE"] },
    { key: "cookie_name", label: "Cookie name", type: "text", local: true, when: (v) => v.persistence === "APP_COOKIE" },
    { key: "tls_enabled", label: "TLS to members", type: "checkbox", value: false },
    { key: "tls_container_ref", label: "Client certificate ref", type: "text", when: (v) => v.tls_enabled },
    { key: "ca_tls_container_ref", label: "CA certificate ref", type: "text", when: (v) => v.tls_enabled },
    { key: "crl_container_ref", label: "CRL ref", type: "text", when: (v) => v.tls_enabled },
    adminState] },
  { id: "members", title: "Pool Members", needs: "pool", members: true, fields: [] },
  { id: "monitor", title: "Monitor Details", needs: "pool", fields: [
    make("health monitor"), name,
    { key: "type", label: "Type", type: "select", options: MONITOR_TYPES, derive: (all) =>
      ({ UDP: "UDP-CONNECT", SCTP: "SCTP", TCP: "TCP", HTTPS: "HTTPS" })[all.pool.protocol] || "HTTP" },
    { key: "delay", label: "Delay (sec)", type: "number", value: "5" },
    { key: "timeout", label: "Timeout (sec)", type: "number", value: "5" },
    { key: "max_retries", label: "Max retries", type: "number", value: "3" },
    { key: "max_retries_down", label: "Max retries down", type: "number", value: "3" },
    { key: "http_method", label: "HTTP method", type: "select", options: ["GET", "HEAD", "POST", "PUT", "DELETE",
      "TRACE", "OPTIONS", "PATCH", "CONNECT"], when: (v) => ["HTTP", "HTTPS"].includes(v.type) },
    { key: "url_path", label: "URL path", type: "text", value: "/", when: (v) => ["HTTP", "HTTPS"].includes(v.type) },
    { key: "expected_codes", label: "Expected codes", type: "text", value: "200",
      when: (v) => ["HTTP", "HTTPS"].includes(v.type) },
    adminState] },
];

export function stepActive(step, all) {
  return !step.needs || (all[step.needs].enabled && stepActive(STEPS.find((s) => s.id === step.needs), all));
}

// The fields of a step as sent: hidden and local fields dropped, blanks omitted so the API's defaults apply.
function wire(step, values) {
  const out = {};
  for (const field of step.fields) {
    if (field.local || (field.when && !field.when(values))) continue;
    const value = values[field.key];
    if (field.type === "checkbox") out[field.key] = Boolean(value);
    else if (field.type === "number") { if (value !== "" && value !== undefined) out[field.key] = Number(value); }
    else if (field.type === "list") {
      const items = String(value || "").split(/[\s,]+/).filter(Boolean);
      if (items.length) out[field.key] = items;
    } else if (field.type === "checks") {
      const picked = Object.entries(value || {}).filter(([, on]) => on);
      if (picked.length) out[field.key] = Object.fromEntries(picked.map(([header]) => [header, "true"]));
    } else if (value !== "" && value !== undefined && value !== null) out[field.key] = value;
  }
  return out;
}

export function createBody(all) {
  const lb = wire(STEPS[0], all.lb);
  if (!all.listener.enabled) return { loadbalancer: lb };
  const listener = wire(STEPS[1], all.listener);
  lb.listeners = [listener];
  if (all.pool.enabled) {
    const pool = wire(STEPS[2], all.pool);
    pool.name ||= `${lb.name || "lb"}-pool`;
    if (all.pool.persistence !== "None") {
      pool.session_persistence = { type: all.pool.persistence };
      if (all.pool.persistence === "APP_COOKIE") pool.session_persistence.cookie_name = all.pool.cookie_name;
    }
    pool.members = all.members.map((m) => {
      const member = { address: m.address, protocol_port: m.protocol_port === "" ? undefined : Number(m.protocol_port) };
      if (m.name) member.name = m.name;
      if (m.subnet_id) member.subnet_id = m.subnet_id;
      if (m.weight !== "") member.weight = Number(m.weight);
      return member;
    });
    if (all.monitor.enabled) pool.healthmonitor = wire(STEPS[4], all.monitor);
    listener.default_pool = pool;
  }
  return { loadbalancer: lb };
}

// Which step an API message is about: the object it names, else the step holding the field it names.
export function stepOfError(message) {
  const text = message.toLowerCase();
  const attr = message.match(/field\/attribute (\w+)/)?.[1];
  if (/health ?monitor/.test(text)) return "monitor";
  if (/\bmember/.test(text)) return "members";
  if (/\bpool/.test(text) || /session_persistence|lb_algorithm|persistence/.test(text)) return "pool";
  if (/\blistener/.test(text)) return "listener";
  if (attr) {
    const order = ["listener", "monitor", "pool", "lb"]; // step-specific keys first; name etc. stay on "lb"
    for (const id of order) {
      if (STEPS.find((s) => s.id === id).fields.some((f) => f.key === attr && !["name", "description",
        "admin_state_up"].includes(f.key))) return id;
    }
    if (["address", "protocol_port", "weight", "subnet_id"].includes(attr)) return "members";
  }
  return "lb";
}
