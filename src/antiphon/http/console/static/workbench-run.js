// The Workbench's answer: server-sent events read from a fetch() response, and a view that
// shows each content block (text, thinking, tool use, …) as it grows, then the usage.
// Text goes in with textContent only: an answer is never markup.

// Each event of a Messages stream as {name, data}; pings and comments are skipped.
export async function* readEvents(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = parseEvent(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (event && event.name !== "ping") yield event;
    }
  }
}

function parseEvent(raw) {
  let name = "message";
  const data = [];
  for (const line of raw.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") name = value;
    else if (field === "data") data.push(value);
  }
  return data.length ? { name, data: JSON.parse(data.join("\n")) } : null;
}

const LABELS = {
  text: () => "Text",
  thinking: () => "Thinking",
  redacted_thinking: () => "Redacted thinking",
  tool_use: (block) => `Tool use: ${block.name}`,
  server_tool_use: (block) => `Server tool use: ${block.name}`,
};

export class AnswerView {
  constructor(container, usageLine, startedAt) {
    this.container = container;
    this.usageLine = usageLine;
    this.startedAt = startedAt;
    this.firstTokenAt = null;
    this.blocks = new Map(); // index → {block, body, json}
    this.usage = {};
    this.stopReason = null;
    container.replaceChildren();
    usageLine.textContent = "";
    container.setAttribute("aria-busy", "true");
  }

  handle(event) {
    const data = event.data;
    if (event.name === "message_start") this.addUsage(data.message.usage);
    else if (event.name === "content_block_start") this.startBlock(data.index, data.content_block);
    else if (event.name === "content_block_delta") this.delta(data.index, data.delta);
    else if (event.name === "content_block_stop") this.stopBlock(data.index);
    else if (event.name === "message_delta") {
      this.addUsage(data.usage);
      this.stopReason = data.delta.stop_reason;
    } else if (event.name === "error") {
      this.note(`${data.error.type}: ${data.error.message}`, "error");
    }
  }

  startBlock(index, block) {
    const section = document.createElement("div");
    section.className = `wb-block wb-block-${block.type}`;
    const label = document.createElement("p");
    label.className = "wb-block-label";
    label.textContent = (LABELS[block.type] || (() => block.type))(block);
    const body = document.createElement(block.type === "text" || block.type === "thinking" ? "div" : "pre");
    body.className = "wb-block-body";
    if (block.type === "text") body.textContent = block.text || "";
    else if (block.type === "thinking") body.textContent = block.thinking || "";
    else if (block.type === "redacted_thinking") body.textContent = "(encrypted by the server)";
    else if (!block.type.endsWith("tool_use")) body.textContent = JSON.stringify(block, null, 2);
    section.append(label, body);
    this.container.append(section);
    this.blocks.set(index, { block, body, json: "" });
  }

  delta(index, delta) {
    const entry = this.blocks.get(index);
    if (!entry) return;
    if (this.firstTokenAt === null) this.firstTokenAt = performance.now();
    if (delta.type === "text_delta") entry.body.textContent += delta.text;
    else if (delta.type === "thinking_delta") entry.body.textContent += delta.thinking;
    else if (delta.type === "input_json_delta") {
      entry.json += delta.partial_json;
      entry.body.textContent = entry.json;
    }
  }

  stopBlock(index) {
    const entry = this.blocks.get(index);
    if (!entry || !entry.block.type.endsWith("tool_use")) return;
    try { // the whole input, indented, once it is complete
      entry.body.textContent = JSON.stringify(entry.json ? JSON.parse(entry.json) : entry.block.input, null, 2);
    } catch (_) { /* leave it as it came */ }
  }

  addUsage(usage) {
    for (const [name, value] of Object.entries(usage || {})) {
      if (typeof value === "number") this.usage[name] = value;
    }
  }

  note(text, kind) {
    const line = document.createElement("p");
    line.className = kind === "error" ? "error" : "hint";
    if (kind === "error") line.setAttribute("role", "alert");
    line.textContent = text;
    this.container.append(line);
  }

  finish() {
    this.container.setAttribute("aria-busy", "false");
    const usage = this.usage;
    if (!this.stopReason) return; // refused, failed or stopped: no final usage came
    const parts = [
      `Input tokens: ${usage.input_tokens}`,
      `Cache read: ${usage.cache_read_input_tokens || 0}`,
      `Cache write: ${usage.cache_creation_input_tokens || 0}`,
      `Output tokens: ${usage.output_tokens || 0}`,
    ];
    if (this.firstTokenAt !== null) {
      parts.push(`Time to first token: ${((this.firstTokenAt - this.startedAt) / 1000).toFixed(2)} s`);
    }
    if (this.stopReason) parts.push(`Stop reason: ${this.stopReason}`);
    this.usageLine.textContent = parts.join(" · ");
  }
}
