/*
 * Quantify Notify — page helpers that have nothing to do with the live socket.
 *
 * Load it with htmx, before DOMContentLoaded (a plain or `defer` script tag), so the htmx
 * settings below apply before htmx initialises. The CSP forbids inline scripts, so pages
 * configure this file through markup only:
 *   <meta name="csrf-token" content="…">   sent as X-CSRFToken on every htmx request
 *   data-confirm="Question?"              on a form, submit button, link or htmx element
 * Submit buttons are disabled while their form is being sent, to stop double submits.
 */
(function () {
    "use strict";

    var BUSY_ATTR = "data-busy-disabled";
    // Events whose confirmation this file already asked for, so htmx does not ask again.
    var confirmed = new WeakSet();
    // htmx element -> the buttons this file disabled for its request in flight.
    var busy = new Map();

    /**
     * Adjusts htmx for a `script-src 'self'; style-src 'self'` CSP: its injected indicator
     * <style> would be refused (app.css carries those rules) and eval-based features
     * (hx-on, js: values, event filters) cannot run anyway.
     */
    function configureHtmx() {
        if (!window.htmx) {
            return;
        }
        window.htmx.config.includeIndicatorStyles = false;
        window.htmx.config.allowEval = false;
    }

    /**
     * The current CSRF token, read at request time so a page that refreshed it still works.
     */
    function csrfToken() {
        var meta = document.querySelector('meta[name="csrf-token"]');
        return meta ? meta.getAttribute("content") : null;
    }

    /**
     * Adds the CSRF header to every htmx request (htmx 2 only sends to our own origin by
     * default: htmx.config.selfRequestsOnly).
     */
    function onConfigRequest(event) {
        var token = csrfToken();
        if (token) {
            event.detail.headers["X-CSRFToken"] = token;
        }
    }

    /**
     * The data-confirm question for a submit: the clicked button's own wins over the form's.
     */
    function submitQuestion(form, submitter) {
        if (submitter && submitter.hasAttribute("data-confirm")) {
            return submitter.getAttribute("data-confirm");
        }
        return form.getAttribute("data-confirm");
    }

    /**
     * Asks before a data-confirm form is sent. Runs in the capture phase, before htmx's own
     * submit listener on the form, so a "Cancel" stops both the browser and htmx.
     */
    function onSubmitCapture(event) {
        var form = event.target;
        if (!(form instanceof HTMLFormElement)) {
            return;
        }
        var question = submitQuestion(form, event.submitter);
        if (question === null || question === undefined) {
            return;
        }
        if (window.confirm(question)) {
            confirmed.add(event);
        } else {
            event.preventDefault();
            event.stopPropagation();
        }
    }

    /**
     * Asks before data-confirm links and buttons that are not form submits (those are
     * handled on submit, where the form's and the button's questions are both known).
     */
    function onClickCapture(event) {
        var el = event.target instanceof Element ? event.target.closest("a[data-confirm], button[data-confirm]") : null;
        if (!el || (el.form && el.type === "submit")) {
            return;
        }
        if (window.confirm(el.getAttribute("data-confirm"))) {
            confirmed.add(event);
        } else {
            event.preventDefault();
            event.stopPropagation();
        }
    }

    /**
     * htmx's confirmation hook, for htmx elements carrying data-confirm themselves (e.g. an
     * hx-post button with a non-click trigger). Skipped when the triggering click or submit
     * was already confirmed above; only the element's own attribute counts, so a container's
     * data-confirm never leaks onto polling requests inside it.
     */
    function onHtmxConfirm(event) {
        var elt = event.detail.elt;
        var trigger = event.detail.triggeringEvent;
        if (!elt || !elt.hasAttribute("data-confirm") || (trigger && confirmed.has(trigger))) {
            return;
        }
        event.preventDefault();
        if (window.confirm(elt.getAttribute("data-confirm"))) {
            // true = skip htmx's own hx-confirm, the person has just answered.
            event.detail.issueRequest(true);
        }
    }

    /**
     * The submit buttons of a form, including type-less <button>s and ones outside the
     * form tied to it with form="…".
     */
    function submitButtons(form) {
        return Array.prototype.filter.call(form.elements, function (el) {
            return el.type === "submit" && !el.disabled;
        });
    }

    /**
     * Disables buttons, remembering which ones so only those are re-enabled later (a button
     * the server rendered disabled stays disabled).
     */
    function disableButtons(buttons) {
        buttons.forEach(function (button) {
            button.disabled = true;
            button.setAttribute(BUSY_ATTR, "");
        });
        return buttons;
    }

    /**
     * Re-enables buttons this file disabled.
     */
    function enableButtons(buttons) {
        buttons.forEach(function (button) {
            if (button.hasAttribute(BUSY_ATTR)) {
                button.removeAttribute(BUSY_ATTR);
                button.disabled = false;
            }
        });
    }

    /**
     * Plain (non-htmx) form posts: disable the submit buttons until the page unloads. Done on
     * the next tick because a disabled submitter would drop its name=value from the post.
     * htmx cancels the native submit of forms it handles, so those are left to
     * onBeforeRequest, which knows when the request really starts.
     */
    function onSubmit(event) {
        var form = event.target;
        if (!(form instanceof HTMLFormElement) || event.defaultPrevented) {
            return;
        }
        window.setTimeout(function () {
            disableButtons(submitButtons(form));
        }, 0);
    }

    /**
     * htmx requests started by a form submit or a button click: disable the buttons (and mark
     * the form busy) until htmx:afterRequest. The form values are already collected here.
     */
    function onBeforeRequest(event) {
        if (event.defaultPrevented) {
            return;
        }
        var elt = event.detail.elt;
        var trigger = event.detail.requestConfig && event.detail.requestConfig.triggeringEvent;
        if (!elt || !trigger || (trigger.type !== "submit" && trigger.type !== "click")) {
            return; // Polling and live refreshes must not grey out buttons.
        }
        var buttons = [];
        if (elt instanceof HTMLFormElement) {
            buttons = submitButtons(elt);
            elt.setAttribute("aria-busy", "true");
        } else if (elt.matches("button, input[type=submit], input[type=button]") && !elt.disabled) {
            buttons = [elt];
        }
        if (buttons.length) {
            busy.set(elt, disableButtons(buttons));
        }
    }

    /**
     * Re-enables what onBeforeRequest disabled, whatever the outcome (htmx fires afterRequest
     * for errors, aborts and timeouts too). Entries whose element was swapped away are dropped.
     */
    function onAfterRequest(event) {
        var elt = event.detail.elt;
        busy.forEach(function (buttons, owner) {
            if (owner === elt || owner === event.target || !owner.isConnected) {
                enableButtons(buttons);
                if (owner instanceof HTMLFormElement) {
                    owner.removeAttribute("aria-busy");
                }
                busy.delete(owner);
            }
        });
    }

    /**
     * A page restored from the back/forward cache keeps disabled buttons from the post that
     * left it; give them back.
     */
    function onPageShow(event) {
        if (event.persisted) {
            enableButtons(Array.prototype.slice.call(document.querySelectorAll("[" + BUSY_ATTR + "]")));
            busy.clear();
        }
    }

    /**
     * Tells the person when an htmx request failed; otherwise the click just seems ignored.
     * Responses htmx swaps (e.g. a 422 form with its errors, if configured) never reach here.
     */
    function onRequestFailed(event) {
        var xhr = event.detail.xhr;
        var text;
        if (event.type === "htmx:sendError") {
            text = "Could not reach the server. Check your connection and try again.";
        } else if (xhr && (xhr.status === 401 || xhr.status === 403)) {
            text = xhr.status === 401 ? "Your session has ended. Please sign in again." : "You do not have permission to do that.";
        } else if (xhr && xhr.status === 429) {
            text = "Too many requests. Please wait a moment and try again.";
        } else {
            text = errorMessage(xhr) || "Something went wrong (HTTP " + (xhr ? xhr.status : "?") + "). Please try again.";
        }
        errorToast(text);
    }

    /**
     * The message of a JSON API error body ({"error": {"message"}}), if the response has one.
     */
    function errorMessage(xhr) {
        if (!xhr || !/json/i.test(xhr.getResponseHeader("Content-Type") || "")) {
            return null;
        }
        try {
            var body = JSON.parse(xhr.responseText);
            return body && body.error && typeof body.error.message === "string" ? body.error.message : null;
        } catch (e) {
            return null;
        }
    }

    /**
     * A small error toast in the shared #toasts area (textContent only; no markup from the
     * server is trusted).
     */
    function errorToast(text) {
        var container = document.getElementById("toasts");
        if (!container) {
            container = document.createElement("div");
            container.id = "toasts";
            document.body.appendChild(container);
        }
        var toast = document.createElement("div");
        toast.className = "toast toast-error";
        toast.setAttribute("role", "alert");
        var body = document.createElement("div");
        body.className = "toast-body";
        var title = document.createElement("strong");
        title.className = "toast-title";
        title.textContent = text;
        body.appendChild(title);
        var close = document.createElement("button");
        close.type = "button";
        close.className = "toast-close";
        close.setAttribute("aria-label", "Dismiss");
        close.textContent = "×";
        close.addEventListener("click", function () {
            toast.remove();
        });
        toast.appendChild(body);
        toast.appendChild(close);
        container.appendChild(toast);
        window.setTimeout(function () {
            toast.remove();
        }, 8000);
    }

    configureHtmx();
    document.addEventListener("htmx:configRequest", onConfigRequest);
    document.addEventListener("htmx:confirm", onHtmxConfirm);
    document.addEventListener("htmx:beforeRequest", onBeforeRequest);
    document.addEventListener("htmx:afterRequest", onAfterRequest);
    document.addEventListener("htmx:responseError", onRequestFailed);
    document.addEventListener("htmx:sendError", onRequestFailed);
    document.addEventListener("submit", onSubmitCapture, true);
    document.addEventListener("click", onClickCapture, true);
    document.addEventListener("submit", onSubmit);
    window.addEventListener("pageshow", onPageShow);
})();
