// The Workbench: builds a Messages request from the fields, runs it through
// /console/workbench/run (the /v1/messages route itself, streamed as server-sent events),
// shows each content block as it grows, then the usage and the time to the first token.
// "Get code" asks the server to write the same request as programs; prompts are saved
// per member. No framework: the page is small, and the CSP allows only this server's files.
import {
  $, WorkbenchError, addTurn, buildRequest, refreshVariables, removeTurn, turns, variableNames, variableValues,
} from "./workbench-prompt.js";
import { AnswerView, readEvents } from "./workbench-run.js";

const csrf = () => document.querySelector('meta[name="csrf-token"]').content;
let running = null; // the AbortController of the run in flight

function showError(message, field) {
  const box = $("wb-error");
  box.textContent = message;
  box.hidden = !message;
  for (const marked of document.querySelectorAll('[aria-invalid="true"]')) {
    marked.removeAttribute("aria-invalid");
    marked.removeAttribute("aria-errormessage");
  }
  if (field) { // the field says what is wrong with it, to a screen reader too
    field.setAttribute("aria-invalid", "true");
    field.setAttribute("aria-errormessage", "wb-error");
    field.focus();
  }
}

async function postJson(path, body, headers) {
  return fetch(path, {
    method: "POST",
    credentials: "same-origin",
    headers: { "content-type": "application/json", "x-csrf-token": csrf(), ...headers },
    body: JSON.stringify(body),
    signal: running ? running.signal : undefined,
  });
}

// The API's error envelope as one line; anything else by its status.
async function errorText(response) {
  try {
    const body = await response.json();
    if (body && body.error) return `${body.error.type}: ${body.error.message}`;
  } catch (_) { /* not JSON: fall through */ }
  return `The server answered ${response.status} ${response.statusText}.`;
}

// ---- Run ----------------------------------------------------------------------------

function setRunning(controller) {
  running = controller;
  $("wb-run").disabled = Boolean(controller);
  $("wb-stop-run").hidden = !controller;
}

async function run() {
  showError("");
  let request;
  try {
    request = buildRequest();
  } catch (error) {
    if (error instanceof WorkbenchError) return showError(error.message, error.field);
    throw error;
  }
  const view = new AnswerView($("wb-answer"), $("wb-usage"), performance.now());
  setRunning(new AbortController());
  try {
    const response = await postJson("/console/workbench/run", { ...request, stream: true },
                                     { "anthropic-workspace-id": $("wb-workspace").value });
    if (!response.ok) {
      view.note(await errorText(response), "error");
    } else {
      for await (const event of readEvents(response)) view.handle(event);
    }
  } catch (error) {
    view.note(error.name === "AbortError" ? "Stopped." : `The run failed: ${error.message}`,
              error.name === "AbortError" ? "hint" : "error");
  } finally {
    view.finish();
    setRunning(null);
  }
}

// ---- Get code -----------------------------------------------------------------------

async function getCode() {
  showError("");
  try {
    const response = await postJson("/console/workbench/code", buildRequest(), {});
    if (!response.ok) return showError(await errorText(response));
    const code = await response.json();
    for (const language of ["python", "typescript", "curl"]) {
      const field = $(`wb-code-${language}`);
      field.value = code[language];
      field.rows = Math.min(30, code[language].split("\n").length);
    }
    $("wb-copy-status").textContent = "";
    $("wb-code").showModal();
  } catch (error) {
    if (error instanceof WorkbenchError) return showError(error.message, error.field);
    showError(`Could not get the code: ${error.message}`);
  }
}

// Without clipboard access (an http page that is not localhost, or a refusal) the code
// stays selected for copying by hand.
async function copyCode(button) {
  const language = button.dataset.copyCode;
  const field = $(`wb-code-${language}`);
  const label = button.getAttribute("aria-label").replace(/^Copy the /, "");
  field.select();
  try {
    await navigator.clipboard.writeText(field.value);
    $("wb-copy-status").textContent = `Copied the ${label} to the clipboard.`;
  } catch (_) {
    $("wb-copy-status").textContent = `The ${label} is selected: copy it with your keyboard or menu.`;
  }
}

// ---- Saved prompts ------------------------------------------------------------------

function numberOrNull(id) {
  const value = Number($(id).value);
  return $(id).value.trim() && Number.isFinite(value) ? value : null;
}

function state() {
  const names = variableNames();
  return {
    system: $("wb-system").value,
    turns: turns().map((turn) => ({ role: turn.querySelector(".wb-role").value,
                                    text: turn.querySelector(".wb-text").value })),
    variables: Object.fromEntries(names.map((name) => [name, variableValues.get(name) || ""])),
    model: $("wb-model").value,
    max_tokens: Number.isInteger(numberOrNull("wb-max-tokens")) ? numberOrNull("wb-max-tokens") : null,
    temperature: numberOrNull("wb-temperature"),
    stop_sequences: $("wb-stop").value,
    thinking: $("wb-thinking").checked,
    thinking_budget: Number.isInteger(numberOrNull("wb-budget")) ? numberOrNull("wb-budget") : null,
    tools: $("wb-tools").value,
    tool_choice: $("wb-tool-choice").value,
    output_schema: $("wb-schema").value,
  };
}

function applyState(saved) {
  $("wb-system").value = saved.system;
  $("wb-turns").replaceChildren();
  for (const turn of saved.turns) addTurn(turn.role, turn.text);
  if (!saved.turns.length) addTurn("user", "");
  for (const [name, value] of Object.entries(saved.variables)) variableValues.set(name, value);
  if (Array.from($("wb-model").options).some((option) => option.value === saved.model)) {
    $("wb-model").value = saved.model; // a model no longer served leaves the current choice
  }
  $("wb-max-tokens").value = saved.max_tokens ?? "";
  $("wb-temperature").value = saved.temperature ?? "";
  $("wb-stop").value = saved.stop_sequences;
  $("wb-thinking").checked = saved.thinking;
  $("wb-budget").value = saved.thinking_budget ?? "";
  $("wb-budget").disabled = !saved.thinking;
  $("wb-tools").value = saved.tools;
  $("wb-tool-choice").value = saved.tool_choice;
  $("wb-schema").value = saved.output_schema;
  refreshVariables();
}

function listSaved(saved) {
  const list = $("wb-saved");
  const item = list.querySelector(`li[data-prompt-id="${CSS.escape(saved.id)}"]`) || document.createElement("li");
  item.dataset.promptId = saved.id;
  const link = document.createElement("a");
  link.href = `/console/workbench?prompt=${encodeURIComponent(saved.id)}`;
  link.textContent = saved.name;
  const form = document.createElement("form");
  form.method = "post";
  form.action = `/console/workbench/prompts/${encodeURIComponent(saved.id)}/delete`;
  const token = Object.assign(document.createElement("input"), { type: "hidden", name: "csrf_token", value: csrf() });
  const remove = Object.assign(document.createElement("button"), { type: "submit", className: "danger", textContent: "Delete" });
  remove.setAttribute("aria-label", `Delete ${saved.name}`);
  form.append(token, remove);
  item.replaceChildren(link, form);
  list.prepend(item); // most recently saved first, as the server lists them
  $("wb-no-saved").hidden = true;
}

async function save() {
  const status = $("wb-save-status");
  const name = $("wb-prompt-name").value.trim();
  if (!name) {
    status.textContent = "Give the prompt a name to save it.";
    return $("wb-prompt-name").focus();
  }
  try {
    const response = await postJson("/console/workbench/prompts", { name, prompt: state() }, {});
    if (!response.ok) {
      status.textContent = `Not saved: ${await errorText(response)}`;
      return;
    }
    const saved = await response.json();
    listSaved(saved);
    status.textContent = `Saved “${saved.name}”.`;
  } catch (error) {
    status.textContent = `Not saved: ${error.message}`;
  }
}

// ---- Wiring -------------------------------------------------------------------------

function start() {
  const opened = $("saved-prompt");
  if (opened) applyState(JSON.parse(opened.textContent).prompt);
  else addTurn("user", "");
  refreshVariables();
  $("wb-add-turn").addEventListener("click", () => addTurn().querySelector(".wb-text").focus());
  $("wb-turns").addEventListener("click", (event) => {
    const button = event.target.closest(".wb-remove");
    if (button) removeTurn(button.closest(".wb-turn"));
  });
  document.querySelector(".wb-main").addEventListener("input", refreshVariables);
  document.querySelector(".wb-main").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && !running) run();
  });
  $("wb-thinking").addEventListener("change", () => { $("wb-budget").disabled = !$("wb-thinking").checked; });
  $("wb-run").addEventListener("click", run);
  $("wb-stop-run").addEventListener("click", () => running && running.abort());
  $("wb-get-code").addEventListener("click", getCode);
  $("wb-code-close").addEventListener("click", () => $("wb-code").close());
  $("wb-code").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-copy-code]");
    if (button) copyCode(button);
  });
  $("wb-save").addEventListener("click", save);
}

start();
