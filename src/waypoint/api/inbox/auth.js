// Waypoint inbox sign-in. When the server runs custom auth (langgraph.json "auth"), the
// reviewer pastes a token: it is kept in this tab's sessionStorage and sent as
// `Authorization: Bearer …` on every same-origin request the page makes. A cookie the
// server's authenticate handler accepts works too, with nothing pasted.
"use strict";

(() => {
  const KEY = "waypoint.token";
  const nativeFetch = window.fetch.bind(window);

  window.fetch = (input, init = {}) => {
    const token = sessionStorage.getItem(KEY);
    const url = new URL(typeof input === "string" ? input : input.url, location.href);
    if (token && url.origin === location.origin) {
      const headers = new Headers(init.headers || {});
      if (!headers.has("Authorization")) {
        headers.set("Authorization", /^\w+\s/.test(token) ? token : `Bearer ${token}`);
      }
      init = { ...init, headers };
    }
    return nativeFetch(input, init);
  };

  const node = (tag, attrs = {}, text = "") => {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text) n.textContent = text;
    return n;
  };

  async function showIdentity() {
    const header = document.querySelector("header");
    const box = node("span", { id: "auth" });
    Object.assign(box.style, { display: "flex", gap: ".5rem", alignItems: "center" });
    header.append(box);
    let me;
    try {
      const response = await fetch("/inbox/me");
      me = response.status === 401 || response.status === 403 ? null : await response.json();
      if (me === null) box.dataset.detail = (await response.json().catch(() => ({}))).detail || "";
    } catch {
      me = null;
    }
    if (me && !me.auth) return; // auth is off: reviewers name themselves in the Reviewer box
    if (me) {
      // The server records the signed-in identity as the reviewer; the box would only be a note.
      const reviewer = document.getElementById("reviewer");
      if (reviewer) reviewer.closest("label").style.display = "none";
      box.append(node("span", { id: "who", class: "muted" }, `Signed in as ${me.display_name || me.identity}`));
      if (sessionStorage.getItem(KEY)) {
        const out = node("button", { id: "sign-out", type: "button" }, "Sign out");
        out.addEventListener("click", () => { sessionStorage.removeItem(KEY); location.reload(); });
        box.append(out);
      }
      return;
    }
    const form = node("form", { id: "sign-in" });
    const token = node("input", { id: "token", type: "password", placeholder: "access token", autocomplete: "off", size: "18" });
    form.append(node("span", { class: "error" }, "Sign in:"), token, node("button", { type: "submit" }, "Sign in"));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!token.value.trim()) return;
      sessionStorage.setItem(KEY, token.value.trim());
      location.reload();
    });
    box.append(form);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", showIdentity);
  else showIdentity();
})();
