// The live web map: cytoscape.js drawing positions computed by Graphviz on the server
// (GET map.json), live updates over Server-Sent Events, search, namespace filter, details panel.
import {
  callsOf,
  edgeClass,
  edgeSummary,
  exportLinks,
  filterQuery,
  mergePositions,
  nodeLabel,
  search,
} from './model.js';

const $ = (id) => document.getElementById(id);
const NS_PREFIX = 'namespace::';
const EXTERNAL_GROUP = `${NS_PREFIX}~external`;

const state = {
  graph: { nodes: [], edges: [] },
  namespaces: [],
  selectedNamespaces: new Set(),
  external: true,
  selected: null,
  loading: false,
  reloadAgain: false,
  lastUpdate: 0,
  live: false,
};

const style = [
  {
    selector: 'node',
    style: {
      shape: 'round-rectangle',
      width: 'data(w)',
      height: 'data(h)',
      'background-color': '#ffffff',
      'border-width': 1.2,
      'border-color': '#374151',
      label: 'data(label)',
      'text-wrap': 'wrap',
      'text-valign': 'center',
      'text-halign': 'center',
      'font-size': 11,
      'font-family': 'system-ui, "Liberation Sans", sans-serif',
      color: '#111827',
    },
  },
  {
    selector: 'node.external',
    style: { 'background-color': '#fefce8', 'border-color': '#a16207', 'border-style': 'dashed' },
  },
  {
    selector: 'node.group',
    style: {
      shape: 'round-rectangle',
      'background-color': '#f1f5f9',
      'background-opacity': 0.85,
      'border-color': '#cbd5e1',
      'border-width': 1,
      label: 'data(label)',
      'text-valign': 'top',
      'text-halign': 'center',
      'text-margin-y': -4,
      'font-size': 12,
      'font-weight': 600,
      color: '#475569',
      padding: 10,
    },
  },
  {
    selector: 'node.group.external-group',
    style: { 'background-color': '#fffbeb', 'border-color': '#d97706', 'border-style': 'dashed', color: '#a16207' },
  },
  {
    selector: 'edge',
    style: {
      width: 1.4,
      'curve-style': 'bezier',
      'line-color': '#6b7280',
      'target-arrow-color': '#6b7280',
      'target-arrow-shape': 'triangle',
      'arrow-scale': 0.9,
      'font-size': 9,
      'text-wrap': 'wrap',
      'text-background-color': '#ffffff',
      'text-background-opacity': 0.9,
      'text-background-padding': 2,
    },
  },
  { selector: 'edge.http', style: { 'line-color': '#2563eb', 'target-arrow-color': '#2563eb', width: 1.8 } },
  {
    selector: 'edge.kafka',
    style: { 'line-color': '#d97706', 'target-arrow-color': '#d97706', 'line-style': 'dashed', width: 1.8 },
  },
  {
    selector: 'edge.denied',
    style: { 'line-color': '#dc2626', 'target-arrow-color': '#dc2626', 'line-style': 'dashed', width: 1.8 },
  },
  { selector: 'edge.labelled', style: { label: 'data(label)', color: '#1f2937', 'z-index': 10 } },
  { selector: '.faded', style: { opacity: 0.18 } },
  { selector: 'node.match', style: { 'border-color': '#7c3aed', 'border-width': 3 } },
  { selector: 'node:selected', style: { 'border-color': '#2563eb', 'border-width': 3, 'background-color': '#eff6ff' } },
  { selector: 'node.fresh', style: { 'border-color': '#16a34a', 'border-width': 3 } },
];

// cytoscape is loaded by a classic <script> from /vendor (served from node_modules).
const cy = window.cytoscape({
  container: $('graph'),
  style,
  layout: { name: 'preset' },
  wheelSensitivity: 0.3,
  minZoom: 0.05,
  maxZoom: 4,
  boxSelectionEnabled: false,
});
window.callmapMap = cy; // for debugging and the browser test

function groupId(node) {
  return node.workload ? `${NS_PREFIX}${node.workload.namespace}` : EXTERNAL_GROUP;
}

function nodeData(node, box) {
  const { title, subtitle } = nodeLabel(node);
  return {
    id: node.id,
    parent: groupId(node),
    label: `${title}\n${subtitle}`,
    title,
    w: Math.max(box?.width ?? 120, 60),
    h: Math.max(box?.height ?? 36, 30),
  };
}

function currentPositions() {
  const out = {};
  cy.nodes()
    .not('.group')
    .forEach((n) => {
      out[n.id()] = { ...n.position() };
    });
  return out;
}

/** Replaces the drawn graph with `map`, keeping positions of nodes already on screen unless `relayout`. */
function applyMap(map, relayout) {
  const first = cy.nodes().length === 0;
  const layout = map.layout.nodes;
  const positions = relayout || first ? layout : mergePositions(currentPositions(), layout);
  const wanted = new Set();
  const fresh = [];
  cy.batch(() => {
    const groups = new Map();
    for (const n of map.graph.nodes) {
      const gid = groupId(n);
      if (!groups.has(gid)) groups.set(gid, n.workload ? `namespace: ${n.workload.namespace}` : 'external');
    }
    for (const [gid, label] of groups) {
      wanted.add(gid);
      if (cy.getElementById(gid).empty()) {
        cy.add({
          group: 'nodes',
          data: { id: gid, label },
          classes: gid === EXTERNAL_GROUP ? 'group external-group' : 'group',
          selectable: false,
        });
      }
    }
    for (const n of map.graph.nodes) {
      wanted.add(n.id);
      const data = nodeData(n, layout[n.id]);
      const pos = positions[n.id] ?? { x: 0, y: 0 };
      const el = cy.getElementById(n.id);
      if (el.empty()) {
        cy.add({ group: 'nodes', data, position: { ...pos }, classes: n.external ? 'external' : 'workload' });
        if (!first && !relayout) fresh.push(n.id);
      } else {
        el.data(data);
        if (relayout) el.position({ ...pos });
      }
    }
    for (const e of map.graph.edges) {
      wanted.add(e.id);
      const data = { id: e.id, source: e.source, target: e.target, label: edgeSummary(e) };
      const el = cy.getElementById(e.id);
      if (el.nonempty() && (el.data('source') !== e.source || el.data('target') !== e.target)) el.remove();
      if (cy.getElementById(e.id).empty()) cy.add({ group: 'edges', data, classes: edgeClass(e) });
      else cy.getElementById(e.id).data(data).classes(edgeClass(e));
    }
    cy.elements()
      .filter((el) => !wanted.has(el.id()))
      .remove();
  });
  for (const id of fresh) {
    const el = cy.getElementById(id);
    el.addClass('fresh');
    setTimeout(() => el.removeClass('fresh'), 4000);
  }
  state.graph = map.graph;
  state.namespaces = map.namespaces;
  if (first || relayout) cy.fit(undefined, 30);
  $('empty').hidden = map.graph.nodes.length > 0;
}

async function fetchMap() {
  const res = await fetch(`map.json?${filterQuery([...state.selectedNamespaces], state.external)}`);
  if (!res.ok) {
    let msg = `HTTP ${res.status}`;
    try {
      msg = (await res.json()).error.message;
    } catch {
      // keep the status line
    }
    throw new Error(msg);
  }
  return res.json();
}

/** Loads the map; concurrent requests collapse into one follow-up load. */
async function reload(relayout) {
  if (state.loading) {
    state.reloadAgain = true;
    return;
  }
  state.loading = true;
  try {
    const map = await fetchMap();
    applyMap(map, relayout);
    state.lastUpdate = Date.now();
    renderNamespaces();
    renderSearch();
    renderDetails();
    updateExports();
    updateStatus();
  } catch (e) {
    setStatus(`Could not load the map: ${e.message}`, 'offline');
  } finally {
    state.loading = false;
    if (state.reloadAgain) {
      state.reloadAgain = false;
      await reload(false);
    }
  }
}

function setStatus(text, cls) {
  const el = $('status');
  el.textContent = text;
  el.className = `status ${cls ?? ''}`;
}

function updateStatus() {
  const workloads = state.graph.nodes.filter((n) => n.workload).length;
  const external = state.graph.nodes.length - workloads;
  const calls = state.graph.edges.length;
  const at = state.lastUpdate ? new Date(state.lastUpdate).toLocaleTimeString() : '–';
  const live = state.live ? 'Live' : 'Not live (reconnecting)';
  const ext = external > 0 ? ` · ${external} external` : '';
  setStatus(`${live} · ${workloads} workloads${ext} · ${calls} calls · updated ${at}`, state.live ? 'live' : 'offline');
}

function renderNamespaces() {
  const list = $('ns-list');
  const counts = new Map();
  for (const n of state.graph.nodes) {
    if (n.workload) counts.set(n.workload.namespace, (counts.get(n.workload.namespace) ?? 0) + 1);
  }
  const existing = [...list.querySelectorAll('input')].map((i) => i.value).join(',');
  if (existing !== state.namespaces.join(',')) {
    list.replaceChildren(
      ...state.namespaces.map((ns) => {
        const label = document.createElement('label');
        label.className = 'check';
        const input = document.createElement('input');
        input.type = 'checkbox';
        input.value = ns;
        input.name = 'namespace';
        input.checked = state.selectedNamespaces.has(ns);
        input.addEventListener('change', () => {
          if (input.checked) state.selectedNamespaces.add(ns);
          else state.selectedNamespaces.delete(ns);
          void reload(true);
        });
        const text = document.createElement('span');
        text.textContent = ns;
        const count = document.createElement('span');
        count.className = 'count';
        label.append(input, text, count);
        return label;
      }),
    );
  }
  for (const label of list.querySelectorAll('label')) {
    const ns = label.querySelector('input').value;
    const c = counts.get(ns);
    label.querySelector('.count').textContent = c ? `(${c})` : '';
  }
}

function renderSearch() {
  const q = $('search').value;
  const found = search(state.graph, q);
  const ids = new Set(found.map((n) => n.id));
  cy.batch(() => {
    cy.nodes().removeClass('match');
    if (q.trim() !== '') {
      cy.nodes()
        .not('.group')
        .forEach((n) => {
          if (ids.has(n.id())) n.addClass('match');
        });
    }
  });
  $('search-results').replaceChildren(
    ...found.map((n) => {
      const li = document.createElement('li');
      const b = document.createElement('button');
      b.type = 'button';
      const { title, subtitle } = nodeLabel(n);
      const name = document.createElement('span');
      name.textContent = title;
      const kind = document.createElement('span');
      kind.className = 'ns';
      kind.textContent = ` · ${subtitle}`;
      b.append(name, kind);
      b.dataset.id = n.id;
      b.addEventListener('click', () => select(n.id, true));
      li.append(b);
      return li;
    }),
  );
  if (q.trim() !== '' && found.length === 0) {
    const li = document.createElement('li');
    li.className = 'none';
    li.textContent = 'No matching workload.';
    $('search-results').append(li);
  }
}

function select(id, center) {
  state.selected = id;
  cy.elements().unselect();
  const el = cy.getElementById(id);
  if (el.nonempty()) {
    el.select();
    if (center) cy.animate({ center: { eles: el }, zoom: Math.max(cy.zoom(), 0.9) }, { duration: 250 });
  }
  renderDetails();
  $('details-title').focus();
}

function clearSelection() {
  state.selected = null;
  cy.elements().unselect();
  renderDetails();
}

function highlightNeighbourhood() {
  cy.batch(() => {
    cy.elements().removeClass('faded labelled');
    if (!state.selected) return;
    const el = cy.getElementById(state.selected);
    if (el.empty()) return;
    const hood = el.closedNeighborhood();
    const keep = hood.union(hood.ancestors());
    cy.elements().not(keep).addClass('faded');
    el.connectedEdges().addClass('labelled');
  });
}

function opBadge(op, denied) {
  const s = document.createElement('span');
  s.className = denied ? 'op denied' : 'op';
  s.textContent = denied ? `${op} (denied)` : op;
  return s;
}

function callItem(call) {
  const li = document.createElement('li');
  li.className = 'call';
  const head = document.createElement('div');
  head.className = 'call-head';
  const peer = document.createElement('button');
  peer.type = 'button';
  peer.className = 'peer';
  peer.textContent = nodeLabel(call.peer).title;
  peer.addEventListener('click', () => select(call.peer.id, true));
  head.append(peer);
  for (const kind of call.edge.kinds) {
    const b = document.createElement('span');
    b.className = `badge ${kind}`;
    b.textContent = kind === 'l4' ? 'TCP' : kind.toUpperCase();
    head.append(b);
  }
  const it = call.edge.intent;
  if (it.ports.length > 0) {
    const p = document.createElement('span');
    p.className = 'ports';
    p.textContent = it.ports.map((x) => `:${x}`).join(' ');
    head.append(p);
  }
  li.append(head);
  if (it.http.length > 0 || it.kafka.length > 0) {
    const ul = document.createElement('ul');
    for (const h of it.http) {
      const row = document.createElement('li');
      row.className = 'http-path';
      const m = document.createElement('span');
      m.className = 'method';
      m.textContent = h.methods.length > 0 ? h.methods.join(' ') : 'any';
      const code = document.createElement('code');
      code.textContent = h.path;
      row.append(m, code);
      ul.append(row);
    }
    for (const k of it.kafka) {
      const row = document.createElement('li');
      row.className = 'kafka-topic';
      const code = document.createElement('code');
      code.textContent = `topic ${k.topic}`;
      row.append(code);
      for (const op of k.operations) row.append(opBadge(op, false));
      for (const op of k.deniedOperations) row.append(opBadge(op, true));
      ul.append(row);
    }
    li.append(ul);
  }
  return li;
}

function renderCalls(listId, titleId, title, calls) {
  $(titleId).textContent = `${title} (${calls.length})`;
  const items = calls.map(callItem);
  if (items.length === 0) {
    const li = document.createElement('li');
    li.className = 'none';
    li.textContent = 'None observed.';
    items.push(li);
  }
  $(listId).replaceChildren(...items);
}

function renderDetails() {
  const panel = $('details');
  const node = state.selected ? state.graph.nodes.find((n) => n.id === state.selected) : undefined;
  highlightNeighbourhood();
  if (!node) {
    panel.hidden = true;
    return;
  }
  const { title, subtitle } = nodeLabel(node);
  $('details-title').textContent = title;
  $('details-kind').textContent = node.external
    ? `External destination · ${node.external.ips.join(', ') || 'no IPs recorded'}`
    : `${subtitle} in namespace ${node.workload.namespace}`;
  const calls = callsOf(state.graph, node.id);
  renderCalls('calls-out', 'calls-out-title', 'Calls out', calls.out);
  renderCalls('calls-in', 'calls-in-title', 'Calls in', calls.in);
  panel.hidden = false;
  requestAnimationFrame(() => cy.resize());
}

function updateExports() {
  const links = exportLinks([...state.selectedNamespaces], state.external);
  $('export-yaml').href = links.yaml;
  $('export-svg').href = links.svg;
}

// ---- wiring

cy.on('tap', 'node', (evt) => {
  const n = evt.target;
  if (n.hasClass('group')) return;
  select(n.id(), false);
});
cy.on('tap', (evt) => {
  if (evt.target === cy) clearSelection();
});

$('search').addEventListener('input', renderSearch);
$('search').addEventListener('keydown', (e) => {
  if (e.key === 'Enter') {
    const first = $('search-results').querySelector('button');
    if (first) {
      e.preventDefault();
      select(first.dataset.id, true);
    }
  } else if (e.key === 'ArrowDown') {
    const first = $('search-results').querySelector('button');
    if (first) {
      e.preventDefault();
      first.focus();
    }
  } else if (e.key === 'Escape') {
    $('search').value = '';
    renderSearch();
  }
});
$('search-results').addEventListener('keydown', (e) => {
  if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
  const buttons = [...$('search-results').querySelectorAll('button')];
  const i = buttons.indexOf(document.activeElement);
  if (i < 0) return;
  e.preventDefault();
  if (e.key === 'ArrowUp' && i === 0) $('search').focus();
  else buttons[Math.min(buttons.length - 1, Math.max(0, e.key === 'ArrowDown' ? i + 1 : i - 1))]?.focus();
});
$('show-external').addEventListener('change', (e) => {
  state.external = e.target.checked;
  void reload(true);
});
$('details-close').addEventListener('click', () => {
  clearSelection();
  $('search').focus();
});
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && state.selected) clearSelection();
});
$('fit').addEventListener('click', () => cy.fit(undefined, 30));
$('relayout').addEventListener('click', () => void reload(true));

function connectEvents() {
  const es = new EventSource('api/v1/events');
  es.addEventListener('open', () => {
    state.live = true;
    updateStatus();
  });
  es.addEventListener('map-changed', () => {
    void reload(false);
  });
  es.addEventListener('error', () => {
    state.live = false;
    updateStatus();
  });
}

await reload(true);
connectEvents();
