// The chat page of `hfinfer serve`: talks only to the gateway that served it.
"use strict";

(function () {
  const KEYS = {
    conversations: "hfinfer.conversations",
    current: "hfinfer.current",
    apiKey: "hfinfer.apiKey",
    model: "hfinfer.model",
  };
  const MAX_CONVERSATIONS = 200;
  const $ = (id) => document.getElementById(id);
  const { render: renderMarkdown, escapeHtml } = window.HfMarkdown;
  const emptyNote = $("empty"); // taken out of the page while messages are shown

  const state = {
    conversations: readJson(KEYS.conversations, []),
    currentId: localStorage.getItem(KEYS.current),
    models: new Map(),
    controller: null,
    keyWaiters: null,
  };

  // ---- storage ---------------------------------------------------------------

  function readJson(name, fallback) {
    try {
      const value = localStorage.getItem(name);
      return value === null ? fallback : JSON.parse(value);
    } catch (error) {
      return fallback;
    }
  }

  function persist() {
    state.conversations.sort((a, b) => b.updated - a.updated);
    state.conversations.length = Math.min(state.conversations.length, MAX_CONVERSATIONS);
    try {
      localStorage.setItem(KEYS.conversations, JSON.stringify(state.conversations));
      if (state.currentId) localStorage.setItem(KEYS.current, state.currentId);
      else localStorage.removeItem(KEYS.current);
    } catch (error) {
      showNotice(`Could not save the conversation in this browser: ${error.message}`);
    }
  }

  function current() {
    return state.conversations.find((c) => c.id === state.currentId) || null;
  }

  function newConversation() {
    const conversation = {
      id: `c${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`,
      title: "New chat",
      messages: [],
      updated: Date.now(),
    };
    state.conversations.unshift(conversation);
    state.currentId = conversation.id;
    return conversation;
  }

  // ---- the gateway -----------------------------------------------------------

  // fetch with the stored key; a 401 asks for a key and tries again.
  async function gateway(path, options = {}) {
    for (;;) {
      const headers = { ...(options.headers || {}) };
      const key = localStorage.getItem(KEYS.apiKey);
      if (key) headers.Authorization = `Bearer ${key}`;
      const response = await fetch(path, { ...options, headers });
      if (response.status !== 401) return response;
      const message = await errorText(response);
      const given = await askForKey(key ? `The key was refused: ${message}` : null);
      if (!given) throw new Error(`The gateway needs an API key: ${message}`);
    }
  }

  async function errorText(response) {
    const body = await response.text().catch(() => "");
    try {
      const data = JSON.parse(body);
      if (data && data.error) return data.error.message || String(data.error);
    } catch (error) {
      // not JSON: fall through to the text itself
    }
    return body.trim().slice(0, 500) || `HTTP ${response.status} ${response.statusText}`;
  }

  // Reads an OpenAI chat stream; calls onEvent with each decoded event.
  async function readEvents(body, onEvent) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      buffer += decoder.decode(value || new Uint8Array(), { stream: !done });
      buffer = buffer.replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block
          .split("\n")
          .filter((line) => line.startsWith("data:"))
          .map((line) => line.slice(5).replace(/^ /, ""))
          .join("\n");
        if (!data) continue;
        if (data === "[DONE]") return;
        onEvent(JSON.parse(data));
      }
      if (done) return;
    }
  }

  // ---- models ----------------------------------------------------------------

  async function loadModels() {
    const select = $("model");
    try {
      const response = await gateway("v1/models");
      if (!response.ok) throw new Error(await errorText(response));
      const data = (await response.json()).data || [];
      data.sort((a, b) => a.id.localeCompare(b.id));
      state.models = new Map(data.map((entry) => [entry.id, entry]));
      select.replaceChildren(...data.map((entry) => new Option(entry.id, entry.id)));
      if (!data.length) select.replaceChildren(new Option("No models available", ""));
      const wanted = (current() && current().model) || localStorage.getItem(KEYS.model);
      const [id, provider] = splitModel(wanted || "");
      if (state.models.has(id)) select.value = id;
      fillProviders(provider);
    } catch (error) {
      select.replaceChildren(new Option("Models could not be listed", ""));
      $("model-info").textContent = `Models could not be listed: ${error.message}`;
      $("model-info").classList.add("error-text");
    }
  }

  function splitModel(name) {
    const at = name.lastIndexOf(":");
    return at > 0 ? [name.slice(0, at), name.slice(at + 1)] : [name, ""];
  }

  function providersOf(id) {
    const entry = state.models.get(id);
    return (entry && Array.isArray(entry.providers) && entry.providers) || [];
  }

  function fillProviders(wanted) {
    const select = $("provider");
    const providers = providersOf($("model").value);
    const options = [new Option("Any provider", "")];
    if (providers.length > 1) {
      options.push(new Option("Fastest", "fastest"), new Option("Cheapest", "cheapest"));
    }
    for (const p of providers) {
      const status = p.status && p.status !== "live" ? ` (${p.status})` : "";
      options.push(new Option(`${p.provider}${status} · ${priceText(p.pricing)}`, p.provider));
    }
    select.replaceChildren(...options);
    select.hidden = providers.length === 0;
    if (wanted && [...select.options].some((o) => o.value === wanted)) select.value = wanted;
    describeModel();
  }

  function priceText(pricing) {
    if (!pricing || pricing.input == null) return "price not listed";
    const money = (n) => `$${Number(n).toFixed(2)}`;
    return `${money(pricing.input)} in / ${money(pricing.output)} out per 1M tokens`;
  }

  function contextText(length) {
    if (!length) return "";
    return length >= 1000 ? `${Math.round(length / 1000)}k context` : `${length} context`;
  }

  function describeModel() {
    const info = $("model-info");
    info.classList.remove("error-text");
    const id = $("model").value;
    const entry = state.models.get(id);
    if (!entry) {
      info.textContent = "";
      return;
    }
    const providers = providersOf(id);
    const chosen = providers.find((p) => p.provider === $("provider").value);
    const shown = chosen ? [chosen] : providers;
    if (!shown.length) {
      info.textContent = entry.owned_by ? `Served by ${entry.owned_by}` : "";
      return;
    }
    info.textContent = chosen || providers.length === 1 ? providerText(shown[0]) : providersSummary(providers);
  }

  function providerText(p) {
    const words = [p.provider, priceText(p.pricing), contextText(p.context_length)];
    if (p.supports_tools) words.push("tools");
    return words.filter(Boolean).join(" · ");
  }

  // "Any provider": the cheapest input price and the longest context among them.
  function providersSummary(providers) {
    const priced = providers.filter((p) => p.pricing && p.pricing.input != null);
    const cheapest = priced.sort((a, b) => a.pricing.input - b.pricing.input)[0];
    const longest = Math.max(0, ...providers.map((p) => p.context_length || 0));
    const words = [`${providers.length} providers`];
    if (cheapest) words.push(`from ${priceText(cheapest.pricing)} (${cheapest.provider})`);
    if (longest) words.push(`up to ${contextText(longest)}`);
    return words.join(" · ");
  }

  function chosenModel() {
    const id = $("model").value;
    const provider = $("provider").hidden ? "" : $("provider").value;
    return id ? (provider ? `${id}:${provider}` : id) : "";
  }

  // ---- conversations in the sidebar -------------------------------------------

  function renderSidebar() {
    const list = $("conversations");
    list.replaceChildren(
      ...state.conversations.map((conversation) => {
        const item = document.createElement("li");
        item.className = "conversation" + (conversation.id === state.currentId ? " active" : "");
        item.dataset.id = conversation.id;
        const open = document.createElement("button");
        open.type = "button";
        open.className = "conversation-title";
        open.textContent = conversation.title;
        open.title = conversation.title;
        open.addEventListener("click", () => selectConversation(conversation.id));
        const rename = iconButton("✎", "Rename", () => startRename(item, conversation));
        const remove = iconButton("✕", "Delete", () => deleteConversation(conversation));
        item.append(open, rename, remove);
        return item;
      })
    );
  }

  function iconButton(text, label, onClick) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = `icon-button small ${label.toLowerCase()}`;
    button.textContent = text;
    button.setAttribute("aria-label", label);
    button.title = label;
    button.addEventListener("click", onClick);
    return button;
  }

  function startRename(item, conversation) {
    const input = document.createElement("input");
    input.className = "rename-input";
    input.value = conversation.title;
    input.setAttribute("aria-label", "Conversation title");
    let finished = false;
    const finish = (keep) => {
      if (finished) return;
      finished = true;
      const title = input.value.trim();
      if (keep && title) {
        conversation.title = title.slice(0, 120);
        persist();
      }
      renderSidebar();
    };
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") finish(true);
      if (event.key === "Escape") finish(false);
    });
    input.addEventListener("blur", () => finish(true));
    item.replaceChildren(input);
    input.focus();
    input.select();
  }

  function deleteConversation(conversation) {
    if (!window.confirm(`Delete “${conversation.title}”?`)) return;
    if (state.controller && conversation.id === state.currentId) state.controller.abort();
    state.conversations = state.conversations.filter((c) => c.id !== conversation.id);
    if (state.currentId === conversation.id) {
      state.currentId = state.conversations.length ? state.conversations[0].id : null;
    }
    persist();
    renderAll();
  }

  function selectConversation(id) {
    if (state.controller) state.controller.abort();
    state.currentId = id;
    persist();
    renderAll();
    const model = current() && current().model;
    if (model) {
      const [name, provider] = splitModel(model);
      if (state.models.has(name)) {
        $("model").value = name;
        fillProviders(provider);
      }
    }
    closeSidebar();
  }

  // ---- messages ----------------------------------------------------------------

  function renderAll() {
    renderSidebar();
    const box = $("messages");
    const conversation = current();
    const messages = conversation ? conversation.messages : [];
    box.replaceChildren(...(messages.length ? messages.map(messageElement) : [emptyNote]));
    scrollDown(true);
  }

  function messageElement(message) {
    const article = document.createElement("article");
    article.className = `message ${message.error && !message.content ? "error" : message.role}`;
    const body = document.createElement("div");
    body.className = "bubble";
    article.append(body);
    fillMessage(article, message);
    return article;
  }

  function fillMessage(article, message) {
    const body = article.querySelector(".bubble");
    const parts = [];
    if (message.reasoning) {
      // The reader's own choice wins; else it is open while only reasoning has arrived.
      const choice = article.dataset.reasoning;
      const shown = choice ? choice === "open" : Boolean(message.streaming && !message.content);
      const open = shown ? " open" : "";
      parts.push(
        `<details class="reasoning"${open}><summary>Reasoning</summary>` +
          `<div class="reasoning-body">${renderMarkdown(message.reasoning)}</div></details>`
      );
    }
    if (message.role === "user") {
      parts.push(`<div class="content plain">${escapeHtml(message.content)}</div>`);
    } else if (message.content) {
      parts.push(`<div class="content">${renderMarkdown(message.content)}</div>`);
    } else if (message.streaming && !message.reasoning) {
      parts.push('<div class="content typing" aria-label="Waiting for the answer"><span></span><span></span><span></span></div>');
    }
    if (message.error) parts.push(`<div class="error-text" role="alert">${escapeHtml(message.error)}</div>`);
    const notes = [];
    if (message.stopped) notes.push("stopped");
    if (message.model && message.role === "assistant") notes.push(escapeHtml(message.model));
    if (message.usage) notes.push(`${message.usage.prompt_tokens ?? "?"} + ${message.usage.completion_tokens ?? "?"} tokens`);
    if (notes.length) parts.push(`<div class="meta">${notes.join(" · ")}</div>`);
    body.innerHTML = parts.join("");
    article.classList.toggle("streaming", Boolean(message.streaming));
  }

  function scrollDown(force) {
    const box = $("messages");
    const nearBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 120;
    if (force || nearBottom) box.scrollTop = box.scrollHeight;
  }

  // ---- sending -------------------------------------------------------------------

  async function send(text) {
    const model = chosenModel();
    if (!model) {
      showNotice("Choose a model first.");
      return;
    }
    const conversation = current() || newConversation();
    if (!conversation.messages.length) conversation.title = text.replace(/\s+/g, " ").slice(0, 60);
    conversation.model = model;
    localStorage.setItem(KEYS.model, model);
    const history = conversation.messages
      .filter((m) => (m.role === "user" || m.role === "assistant") && m.content)
      .map((m) => ({ role: m.role, content: m.content }));
    conversation.messages.push({ role: "user", content: text });
    const reply = { role: "assistant", content: "", reasoning: "", model, streaming: true };
    conversation.messages.push(reply);
    conversation.updated = Date.now();
    persist();
    renderAll();
    const article = $("messages").lastElementChild;
    const controller = new AbortController();
    state.controller = controller;
    setBusy(true);
    try {
      await streamReply(model, [...history, { role: "user", content: text }], reply, article, controller.signal);
    } catch (error) {
      if (error.name === "AbortError") reply.stopped = true;
      else reply.error = error.message || String(error);
    } finally {
      delete reply.streaming;
      if (state.controller === controller) state.controller = null;
      conversation.updated = Date.now();
      persist();
      if (article.isConnected) fillMessage(article, reply);
      renderSidebar();
      setBusy(false);
      scrollDown(false);
    }
  }

  async function streamReply(model, messages, reply, article, signal) {
    const response = await gateway("v1/chat/completions", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify({ model, messages, stream: true, stream_options: { include_usage: true } }),
      signal,
    });
    if (!response.ok) throw new Error(await errorText(response));
    let scheduled = false;
    const paint = () => {
      scheduled = false;
      if (article.isConnected) fillMessage(article, reply);
      scrollDown(false);
    };
    await readEvents(response.body, (event) => {
      if (event.error) throw new Error(event.error.message || JSON.stringify(event.error));
      const choice = event.choices && event.choices[0];
      const delta = (choice && choice.delta) || {};
      if (typeof delta.content === "string") reply.content += delta.content;
      const thought = delta.reasoning_content ?? delta.reasoning;
      if (typeof thought === "string") reply.reasoning += thought;
      if (event.usage) reply.usage = event.usage;
      if (!scheduled) {
        scheduled = true;
        requestAnimationFrame(paint);
      }
    });
  }

  function setBusy(busy) {
    $("send").hidden = busy;
    $("stop").hidden = !busy;
  }

  function showNotice(text) {
    const conversation = current() || newConversation();
    conversation.messages.push({ role: "assistant", content: "", error: text });
    persist();
    renderAll();
  }

  // ---- the API key -----------------------------------------------------------------

  function askForKey(reason) {
    const dialog = $("key-dialog");
    $("key-reason").textContent =
      reason || "This gateway asks for an API key. It is kept in this browser only and sent as a bearer token.";
    $("key-input").value = "";
    if (!dialog.open) dialog.showModal();
    $("key-input").focus();
    return new Promise((resolve) => {
      (state.keyWaiters = state.keyWaiters || []).push(resolve);
    });
  }

  function closeKeyDialog(key) {
    if (key) localStorage.setItem(KEYS.apiKey, key);
    const dialog = $("key-dialog");
    if (dialog.open) dialog.close();
    const waiters = state.keyWaiters || [];
    state.keyWaiters = null;
    waiters.forEach((resolve) => resolve(key));
  }

  // ---- the sidebar on narrow screens ------------------------------------------------

  function openSidebar() {
    $("shell").classList.add("sidebar-open");
    $("scrim").hidden = false;
    $("toggle-sidebar").setAttribute("aria-expanded", "true");
  }

  function closeSidebar() {
    $("shell").classList.remove("sidebar-open");
    $("scrim").hidden = true;
    $("toggle-sidebar").setAttribute("aria-expanded", "false");
  }

  // ---- wiring -----------------------------------------------------------------------

  function wire() {
    const prompt = $("prompt");
    $("composer").addEventListener("submit", (event) => {
      event.preventDefault();
      const text = prompt.value.trim();
      if (!text || state.controller) return;
      prompt.value = "";
      autosize();
      send(text);
    });
    prompt.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        $("composer").requestSubmit();
      }
    });
    const autosize = () => {
      prompt.style.height = "auto";
      prompt.style.height = `${Math.min(prompt.scrollHeight, 240)}px`;
    };
    prompt.addEventListener("input", autosize);
    $("stop").addEventListener("click", () => state.controller && state.controller.abort());
    $("new-chat").addEventListener("click", () => {
      if (state.controller) state.controller.abort();
      newConversation();
      persist();
      renderAll();
      closeSidebar();
      prompt.focus();
    });
    $("model").addEventListener("change", () => fillProviders(""));
    $("provider").addEventListener("change", describeModel);
    $("toggle-sidebar").addEventListener("click", () =>
      $("shell").classList.contains("sidebar-open") ? closeSidebar() : openSidebar()
    );
    $("scrim").addEventListener("click", closeSidebar);
    $("set-key").addEventListener("click", async () => {
      if (await askForKey(null)) loadModels(); // the list may have been refused without it
    });
    $("key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      closeKeyDialog($("key-input").value.trim() || null);
    });
    $("key-cancel").addEventListener("click", () => closeKeyDialog(null));
    $("key-dialog").addEventListener("cancel", () => closeKeyDialog(null));
    $("messages").addEventListener("click", (event) => {
      const summary = event.target.closest(".reasoning > summary");
      if (summary) {
        const details = summary.parentElement;
        details.closest(".message").dataset.reasoning = details.open ? "closed" : "open";
        return;
      }
      const button = event.target.closest(".copy-code");
      if (!button) return;
      const code = button.closest(".code-block").querySelector("code").textContent;
      navigator.clipboard.writeText(code).then(
        () => (button.textContent = "Copied"),
        () => (button.textContent = "Copy failed")
      );
    });
  }

  // Answers cut by a reload while streaming are marked as such.
  for (const conversation of state.conversations) {
    for (const message of conversation.messages) {
      if (message.streaming) {
        delete message.streaming;
        message.stopped = true;
      }
    }
  }
  wire();
  renderAll();
  loadModels();
})();
