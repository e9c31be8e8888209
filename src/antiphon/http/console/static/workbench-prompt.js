// The Workbench's prompt: the conversation's messages, the {{VARIABLES}} found in them and
// filled in beside them, and the Messages request built from all the fields.

const VARIABLE = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;
export const $ = (id) => document.getElementById(id);
export const variableValues = new Map(); // kept while a variable leaves and comes back

export class WorkbenchError extends Error {
  constructor(message, field) {
    super(message);
    this.field = field; // the element to focus, so the keyboard lands where the fix is
  }
}

// ---- Conversation turns -------------------------------------------------------------

export function turns() {
  return Array.from(document.querySelectorAll("#wb-turns .wb-turn"));
}

function relabelTurns() {
  turns().forEach((turn, index) => {
    const number = index + 1;
    const text = turn.querySelector(".wb-text");
    text.id = `wb-turn-${number}`;
    turn.querySelector(".wb-text-label").htmlFor = text.id;
    turn.querySelector(".wb-text-label").textContent = `Message ${number}`;
    turn.querySelector(".wb-role").setAttribute("aria-label", `Role of message ${number}`);
    turn.querySelector(".wb-remove").setAttribute("aria-label", `Remove message ${number}`);
    turn.querySelector(".wb-remove").disabled = turns().length === 1;
  });
}

export function addTurn(role, text) {
  const turn = $("wb-turn-template").content.firstElementChild.cloneNode(true);
  const last = turns().at(-1);
  const previous = last ? last.querySelector(".wb-role").value : "assistant";
  turn.querySelector(".wb-role").value = role || (previous === "user" ? "assistant" : "user");
  turn.querySelector(".wb-text").value = text || "";
  $("wb-turns").append(turn);
  relabelTurns();
  return turn;
}

export function removeTurn(turn) {
  const next = turn.nextElementSibling || turn.previousElementSibling;
  turn.remove();
  relabelTurns();
  refreshVariables();
  if (next) next.querySelector(".wb-text").focus();
}

// ---- Variables ----------------------------------------------------------------------

function promptTexts() {
  return [$("wb-system").value, ...turns().map((turn) => turn.querySelector(".wb-text").value)];
}

export function variableNames() {
  const names = [];
  for (const text of promptTexts()) {
    for (const match of text.matchAll(VARIABLE)) {
      if (!names.includes(match[1])) names.push(match[1]);
    }
  }
  return names;
}

export function refreshVariables() {
  const panel = $("wb-variables");
  const names = variableNames();
  const shown = Array.from(panel.querySelectorAll("textarea")).map((field) => field.dataset.name);
  if (names.join("\n") === shown.join("\n")) return; // typing elsewhere keeps focus here
  panel.replaceChildren(...names.map((name) => {
    const wrap = document.createElement("div");
    wrap.className = "stack wb-variable";
    const label = document.createElement("label");
    const field = document.createElement("textarea");
    field.id = `wb-var-${name}`;
    field.dataset.name = name;
    field.rows = 2;
    field.value = variableValues.get(name) || "";
    field.addEventListener("input", () => variableValues.set(name, field.value));
    label.htmlFor = field.id;
    label.textContent = name;
    wrap.append(label, field);
    return wrap;
  }));
  $("wb-no-variables").hidden = names.length > 0;
}

function fill(text) {
  return text.replace(VARIABLE, (_, name) => variableValues.get(name) || "");
}

// ---- The request --------------------------------------------------------------------

function jsonField(id, what, check) {
  const field = $(id);
  const text = field.value.trim();
  if (!text) return undefined;
  let value;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new WorkbenchError(`${what} is not valid JSON: ${error.message}`, field);
  }
  const problem = check(value);
  if (problem) throw new WorkbenchError(`${what}: ${problem}`, field);
  return value;
}

function wholeNumber(id, what) {
  const field = $(id);
  const value = Number(field.value);
  if (!field.value.trim() || !Number.isInteger(value) || value < 1) {
    throw new WorkbenchError(`${what} must be a whole number of at least 1.`, field);
  }
  return value;
}

function checkVariables() {
  for (const name of variableNames()) {
    if (!(variableValues.get(name) || "").trim()) {
      throw new WorkbenchError(`Fill in the variable {{${name}}} under Variables.`, $(`wb-var-${name}`));
    }
  }
}

// The Messages request exactly as sent (and as "Get code" writes it), without `stream`.
export function buildRequest() {
  checkVariables();
  const request = { model: $("wb-model").value, max_tokens: wholeNumber("wb-max-tokens", "Max tokens") };
  const temperature = $("wb-temperature").value.trim();
  if (temperature) {
    const value = Number(temperature);
    if (!(value >= 0 && value <= 1)) {
      throw new WorkbenchError("Temperature must be between 0 and 1.", $("wb-temperature"));
    }
    request.temperature = value;
  }
  const system = fill($("wb-system").value);
  if (system.trim()) request.system = system;
  request.messages = turns().map((turn, index) => {
    const content = fill(turn.querySelector(".wb-text").value);
    if (!content.trim()) throw new WorkbenchError(`Message ${index + 1} is empty.`, turn.querySelector(".wb-text"));
    return { role: turn.querySelector(".wb-role").value, content };
  });
  const stops = $("wb-stop").value.split("\n").filter((line) => line !== "");
  if (stops.length) request.stop_sequences = stops;
  if ($("wb-thinking").checked) {
    request.thinking = { type: "enabled", budget_tokens: wholeNumber("wb-budget", "Thinking budget") };
  }
  const tools = jsonField("wb-tools", "Tools", (value) =>
    Array.isArray(value) ? "" : "expected a JSON array of tools, such as [{\"name\": …}]");
  if (tools !== undefined) {
    request.tools = tools;
    const choice = $("wb-tool-choice").value;
    if (choice !== "auto") request.tool_choice = { type: choice };
  }
  const schema = jsonField("wb-schema", "Structured output", (value) =>
    value && typeof value === "object" && !Array.isArray(value) ? "" : "expected a JSON schema object");
  if (schema !== undefined) request.output_config = { format: { type: "json_schema", schema } };
  return request;
}
