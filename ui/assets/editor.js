// The expression editor around the graph page's textarea: autocomplete of stack-language
// words (GET /api/v1/words, one-line signatures from docs/asl.md) and of tag keys and values
// (GET /api/v1/tags, scoped by the query already on the stack), a history of expressions
// that graphed (localStorage), and "explain": what each word did to the stack.
"use strict";

const HISTORY_KEY = "sextant.history";
const HISTORY_MAX = 30;
const SUGGEST_MAX = 40;
const EXPLAIN_MAX = 80;

let wordList = null;
async function wordTable() {
  if (!wordList) {
    const r = await getJson("/api/v1/words");
    wordList = r.ok ? r.body : [];
  }
  return wordList;
}

// ---- history ----------------------------------------------------------------------

function loadHistory() {
  try { return JSON.parse(localStorage.getItem(HISTORY_KEY) || "[]").filter((q) => typeof q === "string"); } catch (_) { return []; }
}

function showHistory() {
  const sel = $("history");
  sel.replaceChildren(el("option", { value: "" }, "(recent expressions)"));
  for (const q of loadHistory()) sel.append(el("option", { value: q }, q.length > 80 ? q.slice(0, 77) + "..." : q));
}

// Called after an expression graphed without error.
function rememberExpression(q) {
  const list = [q, ...loadHistory().filter((x) => x !== q)].slice(0, HISTORY_MAX);
  try { localStorage.setItem(HISTORY_KEY, JSON.stringify(list)); } catch (_) { /* private mode */ }
  showHistory();
}

// ---- autocomplete -----------------------------------------------------------------

// What is being typed at the caret: the partial token, where it starts, and the finished
// tokens before it. Tokens are comma-separated; parentheses are tokens of their own.
function caretContext(text, caret) {
  const before = text.slice(0, caret);
  const cut = before.lastIndexOf(",") + 1;
  const done = cut > 0 ? before.slice(0, cut - 1).split(",").map((t) => t.trim()) : [];
  return { partial: before.slice(cut).trimStart(), start: cut + (before.slice(cut).length - before.slice(cut).trimStart().length), done };
}

// After a word or a parenthesis, plain tokens alternate key, value, key, value...: an even
// count means a key is being typed, an odd one the value of the last key.
function completionKind(ctx) {
  if (ctx.partial.startsWith(":")) return { kind: "word" };
  let i = ctx.done.length;
  while (i > 0 && !/^[:()]/.test(ctx.done[i - 1])) i--;
  const plain = ctx.done.slice(i);
  const scopeSrc = ctx.done.slice(0, i).join(",");
  if (plain.length % 2 === 0) return { kind: "key", scopeSrc };
  return { kind: "value", key: plain[plain.length - 1], scopeSrc };
}

const scopeCache = new Map();
// The query on top of the stack before the clause being typed, to narrow keys and values.
async function scopeOf(src) {
  if (!src) return "";
  if (!scopeCache.has(src)) {
    const r = await getJson("/api/v1/expr?q=" + encodeURIComponent(src));
    const top = r.ok && r.body.stack.length ? r.body.stack[r.body.stack.length - 1] : null;
    scopeCache.set(src, top && top.type === "a query" ? top.expr : "");
  }
  return scopeCache.get(src);
}

async function candidates(ctx) {
  const k = completionKind(ctx);
  const prefix = ctx.partial.toLowerCase();
  const rank = (items, text) => {
    const starts = items.filter((x) => text(x).toLowerCase().startsWith(prefix));
    const within = prefix ? items.filter((x) => !text(x).toLowerCase().startsWith(prefix) && text(x).toLowerCase().includes(prefix)) : [];
    return starts.concat(within).slice(0, SUGGEST_MAX);
  };
  if (k.kind === "word") {
    return rank(await wordTable(), (w) => w.word).map((w) => ({ text: w.word, sig: w.effect + "  " + w.meaning }));
  }
  const scope = await scopeOf(k.scopeSrc);
  const q = scope ? "?q=" + encodeURIComponent(scope) : "";
  if (k.kind === "key") {
    const r = await getJson("/api/v1/tags" + q);
    const keys = r.ok ? r.body.map((x) => (typeof x === "string" ? x : x.key)) : [];
    return rank(keys, (x) => x).map((x) => ({ text: x, sig: "tag key", comma: true }));
  }
  const r = await getJson("/api/v1/tags/" + encodeURIComponent(k.key) + q);
  const values = r.ok ? r.body.map((x) => (typeof x === "string" ? x : x.value)) : [];
  return rank(values, (x) => x).map((x) => ({ text: x, sig: k.key + " value" }));
}

let suggestSeq = 0;
async function suggest() {
  const ta = $("q");
  const box = $("suggest");
  const ctx = caretContext(ta.value, ta.selectionStart);
  const seq = ++suggestSeq;
  // Nothing typed after a comma: offer only where something specific is expected.
  const list = await candidates(ctx);
  if (seq !== suggestSeq) return;
  box.replaceChildren();
  if (!list.length || (list.length === 1 && list[0].text === ctx.partial)) { box.hidden = true; return; }
  list.forEach((c, i) => {
    const li = el("li", { role: "option", "data-text": c.text, class: i === 0 ? "active" : "" }, c.text, el("span", { class: "sig" }, c.sig));
    li.addEventListener("mousedown", (ev) => { ev.preventDefault(); accept(c, ctx); });
    box.append(li);
  });
  box.hidden = false;
  box.candidates = list;
  box.ctx = ctx;
}

function accept(c, ctx) {
  const ta = $("q");
  const after = ta.value.slice(ta.selectionStart);
  const insert = c.text + (c.comma ? "," : "");
  ta.value = ta.value.slice(0, ctx.start) + insert + after;
  const caret = ctx.start + insert.length;
  ta.setSelectionRange(caret, caret);
  $("suggest").hidden = true;
  ta.focus();
  ta.dispatchEvent(new Event("input"));
  if (c.comma) suggest();
}

function moveActive(delta) {
  const items = [...$("suggest").children];
  const cur = items.findIndex((li) => li.classList.contains("active"));
  const next = (cur + delta + items.length) % items.length;
  items.forEach((li, i) => li.classList.toggle("active", i === next));
  items[next].scrollIntoView({ block: "nearest" });
}

// ---- explain ----------------------------------------------------------------------

function tokenMeaning(tok, words) {
  if (tok === "(") return "start a list";
  if (tok === ")") return "end the list";
  if (tok.startsWith(":")) {
    const w = words.find((x) => x.word === tok);
    return w ? (w.effect ? w.effect + ": " : "") + w.meaning : "unknown word";
  }
  return "push the string " + tok;
}

async function explain() {
  const q = $("q").value.trim();
  const body = $("explain-table").tBodies[0];
  body.replaceChildren();
  $("explain").hidden = !q;
  if (!q) return;
  const words = await wordTable();
  const tokens = q.split(",").map((t) => t.trim()).filter((t) => t !== "").slice(0, EXPLAIN_MAX);
  // Inside a list nothing runs: only the stack after the list closes is worth showing.
  let depth = 0;
  const rows = tokens.map((tok, i) => {
    if (tok === "(") depth++;
    if (tok === ")") depth = Math.max(0, depth - 1);
    return { tok, i, inList: depth > 0 || tok === "(" };
  });
  const stacks = await Promise.all(rows.map((r) => (r.inList ? null
    : getJson("/api/v1/expr?q=" + encodeURIComponent(tokens.slice(0, r.i + 1).join(","))))));
  rows.forEach((r, i) => {
    const s = stacks[i];
    let after = "(inside a list)";
    if (s) after = s.ok ? s.body.stack.map((x) => x.expr).join("  |  ") || "(empty)" : errorText(s);
    body.append(el("tr", { class: s && !s.ok ? "failed" : "" },
      el("td", {}, String(i + 1)), el("td", {}, r.tok), el("td", {}, tokenMeaning(r.tok, words)), el("td", {}, after)));
  });
}

function initEditor() {
  const ta = $("q");
  const box = $("suggest");
  let timer = null;
  // A stale list must not be accepted against new text: hide it until the new one is in.
  ta.addEventListener("input", () => { box.hidden = true; suggestSeq++; clearTimeout(timer); timer = setTimeout(suggest, 120); });
  ta.addEventListener("blur", () => { box.hidden = true; });
  ta.addEventListener("keydown", (ev) => {
    // Ctrl+Enter (Cmd+Enter) graphs without leaving the keyboard.
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
      ev.preventDefault();
      box.hidden = true;
      runGraph(true);
      return;
    }
    if (box.hidden) return;
    if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      ev.preventDefault();
      moveActive(ev.key === "ArrowDown" ? 1 : -1);
    } else if (ev.key === "Tab" || ev.key === "Enter") {
      const items = [...box.children];
      const i = items.findIndex((li) => li.classList.contains("active"));
      if (i >= 0) {
        ev.preventDefault();
        accept(box.candidates[i], box.ctx);
      }
    } else if (ev.key === "Escape") {
      box.hidden = true;
    }
  });
  $("history").addEventListener("change", () => {
    if (!$("history").value) return;
    ta.value = $("history").value;
    runGraph(true);
  });
  $("explain-btn").addEventListener("click", explain);
  showHistory();
}
