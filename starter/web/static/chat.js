// threadloom's chat page: pick an assistant, open a conversation (?conversation=ID), send turns and
// watch their replies stream in. Everything comes from this server's /api routes (starter/web); a
// turn's events arrive as SSE over fetch, and a lost stream is resumed with Last-Event-ID.
"use strict";

const RECONNECTS = 5;
const $ = (id) => document.getElementById(id);
const state = { conversation: null, threadId: null, assistants: [], busy: false };

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function problem(text) {
  $("problem").textContent = text || "";
  $("problem").hidden = !text;
}

async function api(path, options = {}) {
  const response = await fetch(path, options);
  const body = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    const error = new Error((body && body.error && body.error.message) || `HTTP ${response.status}`);
    error.status = response.status;
    error.type = body && body.error && body.error.type;
    throw error;
  }
  return body;
}

function postJson(path, body) {
  return { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) };
}

function updateUrl() {
  const query = new URLSearchParams();
  if (state.conversation) query.set("conversation", state.conversation);
  if ($("assistant").value) query.set("assistant", $("assistant").value);
  history.replaceState(null, "", `/chat?${query}`);
}

function showConversation(id, uiUrl) {
  $("conversation-id").textContent = id || "new";
  const link = $("conversation-link");
  link.hidden = !uiUrl;
  if (uiUrl) link.href = uiUrl;
}

function scrollDown() {
  const log = $("log");
  log.scrollTop = log.scrollHeight;
}

function note(text, kind = "") {
  $("log").append(element("div", `note ${kind}`, text));
  scrollDown();
}

function turnLink(meta, uiUrl) {
  if (!uiUrl) return;
  const link = element("a", "", "turn in Temporal UI");
  link.href = uiUrl;
  link.target = "_blank";
  link.rel = "noopener";
  meta.replaceChildren(link);
}

function messageBubble(role, text) {
  const bubble = element("div", `message ${role}`);
  const body = element("span", "text", text);
  const meta = element("span", "meta");
  bubble.append(body, meta);
  $("log").append(bubble);
  scrollDown();
  return { bubble, body, meta };
}

// ---- assistants ----

function optionLabel(assistant) {
  return `${assistant.name || assistant.id} (${assistant.model})`;
}

async function loadAssistants(wanted) {
  const answer = await api("/api/assistants");
  state.assistants = answer.data;
  const select = $("assistant");
  select.replaceChildren(
    ...state.assistants.map((a) => {
      const option = element("option", "", optionLabel(a));
      option.value = a.id;
      return option;
    }),
  );
  if (wanted && state.assistants.some((a) => a.id === wanted)) select.value = wanted;
  if (!state.assistants.length) $("new-assistant").hidden = false;
  fillTools();
}

function fillTools() {
  const assistant = state.assistants.find((a) => a.id === $("assistant").value);
  $("tools").value = assistant && assistant.tools.length ? assistant.tools.join(", ") : "";
}

async function createAssistant(event) {
  event.preventDefault();
  try {
    const made = await api(
      "/api/assistants",
      postJson("/api/assistants", {
        name: $("assistant-name").value,
        instructions: $("assistant-instructions").value,
        model: $("assistant-model").value,
      }),
    );
    await loadAssistants(made.id);
    $("new-assistant").hidden = true;
    $("assistant-name").value = $("assistant-instructions").value = $("assistant-model").value = "";
    startNewConversation();
    problem("");
  } catch (error) {
    problem(`could not create the assistant: ${error.message}`);
  }
}

// ---- conversations ----

async function loadRecent() {
  const assistantId = $("assistant").value;
  const query = assistantId ? `?assistant=${encodeURIComponent(assistantId)}` : "";
  const answer = await api(`/api/conversations${query}`);
  const first = element("option", "", answer.data.length ? "reopen…" : "none to reopen");
  first.value = "";
  const options = answer.data.map((c) => {
    const option = element("option", "", `${c.conversation_id} (${c.started_at.slice(0, 16).replace("T", " ")})`);
    option.value = c.conversation_id;
    return option;
  });
  $("recent").replaceChildren(first, ...options);
}

function reopen() {
  const id = $("recent").value;
  if (!id) return;
  const query = new URLSearchParams({ conversation: id });
  if ($("assistant").value) query.set("assistant", $("assistant").value);
  location.assign(`/chat?${query}`); // a fresh page: the history comes from the thread
}

function startNewConversation() {
  state.conversation = null;
  state.threadId = null;
  $("log").replaceChildren();
  $("assistant").disabled = false;
  showConversation(null, null);
  updateUrl();
}

async function openConversation(id) {
  state.conversation = id;
  showConversation(id, null);
  let found;
  try {
    found = await api(`/api/conversations/${encodeURIComponent(id)}`);
  } catch (error) {
    if (error.status === 404) {
      note(`conversation ${id} is new: its first message starts it`);
      return;
    }
    throw error;
  }
  state.threadId = found.thread_id;
  showConversation(id, found.ui_url);
  if (found.assistant_id && state.assistants.some((a) => a.id === found.assistant_id)) {
    $("assistant").value = found.assistant_id;
    fillTools();
  }
  $("assistant").disabled = found.messages.length > 0;
  for (const message of found.messages) {
    const { meta } = messageBubble(message.role, message.text);
    if (message.role === "assistant") turnLink(meta, message.ui_url);
  }
  updateUrl();
  const last = found.messages[found.messages.length - 1];
  if (found.running && last && last.role === "user" && last.workflow_id) {
    // A turn still running (sent from another tab, or before a reload): follow it from the start.
    await follow(new Turn({ type: "turn", workflow_id: last.workflow_id, ui_url: last.ui_url }), null);
  }
}

// ---- a streamed turn ----

class Turn {
  constructor(head) {
    const { bubble, body, meta } = messageBubble("assistant", "");
    this.bubble = bubble;
    this.body = body;
    this.meta = meta;
    this.body.dataset.state = "waiting";
    this.segments = new Map(); // message id -> its text node, in arrival order
    this.tools = new Map(); // call id -> its row
    this.offset = null;
    this.done = false;
    this.workflowId = null;
    if (head) this.handle(head);
  }

  // Read one SSE response body to its end; false if the connection broke.
  async read(response) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          this.message(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
          if (this.done) return true;
        }
      }
    } catch (error) {
      return false;
    }
    return true;
  }

  message(block) {
    const data = [];
    let id = null;
    for (const line of block.split("\n")) {
      if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      else if (line.startsWith("id:")) id = line.slice(3).trim();
    }
    if (!data.length) return; // a comment (keepalive) or retry line
    const event = JSON.parse(data.join("\n"));
    if (id !== null && id !== "") this.offset = Number(id);
    this.handle(event);
  }

  text() {
    return [...this.segments.values()].map((node) => node.textContent).join("");
  }

  handle(event) {
    switch (event.type) {
      case "turn":
        this.workflowId = event.workflow_id;
        turnLink(this.meta, event.ui_url);
        if (event.thread_id) state.threadId = event.thread_id;
        if (event.conversation_ui_url) showConversation(state.conversation, event.conversation_ui_url);
        break;
      case "text_delta": {
        let node = this.segments.get(event.message_id);
        if (!node) {
          if (this.segments.size) this.body.append("\n\n");
          node = document.createTextNode("");
          this.segments.set(event.message_id, node);
          this.body.append(node);
        }
        node.textContent += event.text;
        this.body.dataset.state = "streaming";
        break;
      }
      case "tool_call_started": {
        const row = element("span", "tool", `${event.name}(${event.arguments})`);
        row.dataset.state = "running";
        this.tools.set(event.call_id, row);
        this.bubble.insertBefore(row, this.body);
        break;
      }
      case "tool_call_finished": {
        const row = this.tools.get(event.call_id) || element("span", "tool");
        row.textContent = `${event.name} → ${event.output}`;
        row.dataset.state = "finished";
        if (!row.parentNode) this.bubble.insertBefore(row, this.body);
        break;
      }
      case "run_status":
        this.meta.dataset.status = event.status;
        break;
      case "run_restarted":
        this.segments.clear();
        this.body.replaceChildren();
        this.body.dataset.state = "waiting";
        this.notice(`${event.reason}: the reply starts over with run ${event.run_id}`);
        break;
      case "resumed":
        this.notice(`resumed (${event.reason})`);
        break;
      case "not_streamed":
        this.notice(`not streamed (${event.reason}): the reply arrives whole`);
        break;
      case "turn_finished":
        this.body.textContent = event.result.reply;
        this.body.dataset.state = "done";
        this.done = true;
        break;
      case "error":
        this.fail(`${event.error}: ${event.message}`);
        break;
      default:
        break; // an event type this page does not know yet
    }
    scrollDown();
  }

  notice(text) {
    this.bubble.before(element("div", "note warning", text));
  }

  fail(text) {
    this.body.dataset.state = "failed";
    this.bubble.after(element("div", "note error", text));
    this.done = true;
  }
}

// Relay `response` (or, with none, resume from the turn's offset) until the turn finishes, resuming a
// dropped stream with Last-Event-ID a few times.
async function follow(turn, response) {
  let attempts = 0;
  for (;;) {
    if (response) {
      if (await turn.read(response)) attempts = 0;
      if (turn.done) return;
    }
    if (!turn.workflowId || attempts >= RECONNECTS) break;
    attempts += 1;
    if (response || attempts > 1) await new Promise((resolve) => setTimeout(resolve, 300 * attempts));
    const headers = turn.offset === null ? {} : { "last-event-id": String(turn.offset) };
    try {
      response = await fetch(`/api/turns/${encodeURIComponent(turn.workflowId)}/events`, { headers });
    } catch (error) {
      response = null;
      continue;
    }
    if (response.status === 204) break;
    if (!response.ok) {
      const body = await response.json().catch(() => null);
      turn.fail((body && body.error && body.error.message) || `HTTP ${response.status}`);
      return;
    }
  }
  if (!turn.done) turn.fail("the stream ended before the turn did: reload the page to see the reply");
}

async function send(event) {
  event.preventDefault();
  const text = $("message").value.trim();
  const assistantId = $("assistant").value;
  if (!text || state.busy) return;
  if (!assistantId) {
    problem("pick or create an assistant first");
    return;
  }
  problem("");
  if (!state.conversation) {
    state.conversation = `web-${crypto.randomUUID().slice(0, 8)}`;
    showConversation(state.conversation, null);
  }
  updateUrl();
  state.busy = true;
  $("send").disabled = true;
  $("assistant").disabled = true;
  $("message").value = "";
  messageBubble("user", text);
  const tools = $("tools").value.split(",").map((t) => t.trim()).filter(Boolean);
  const turn = new Turn(null);
  try {
    const body = { text, assistant_id: assistantId, tools, turn_key: crypto.randomUUID().replaceAll("-", "") };
    if (state.threadId) body.thread_id = state.threadId;
    const path = `/api/conversations/${encodeURIComponent(state.conversation)}/turns`;
    const response = await fetch(path, postJson(path, body));
    if (!response.ok) {
      const answer = await response.json().catch(() => null);
      const error = answer && answer.error;
      turn.fail(error ? `${error.type}: ${error.message}` : `HTTP ${response.status}`);
    } else {
      await follow(turn, response);
    }
  } catch (error) {
    turn.fail(`the turn could not be sent: ${error.message}`);
  } finally {
    loadRecent().catch(() => {}); // this conversation is one to reopen now
    state.busy = false;
    $("send").disabled = false;
    $("message").focus();
  }
}

async function start() {
  $("composer").addEventListener("submit", send);
  $("message").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) send(event);
  });
  $("new-assistant").addEventListener("submit", createAssistant);
  $("show-new-assistant").addEventListener("click", () => {
    $("new-assistant").hidden = !$("new-assistant").hidden;
  });
  $("new-conversation").addEventListener("click", startNewConversation);
  $("assistant").addEventListener("change", () => {
    fillTools();
    updateUrl();
    loadRecent().catch((error) => problem(error.message));
  });
  $("recent").addEventListener("change", reopen);
  const query = new URLSearchParams(location.search);
  try {
    await loadAssistants(query.get("assistant"));
    if (query.get("conversation")) await openConversation(query.get("conversation"));
    else updateUrl();
    await loadRecent();
  } catch (error) {
    problem(error.message);
  }
  document.body.dataset.ready = "true";
}

start();
