/*
 * Quantify Notify — live client.
 *
 * Loaded after /static/vendor/socket.io.min.js (and htmx). The CSP forbids inline scripts, so
 * everything comes from the DOM: <body data-user-id data-role data-last-notification-id
 * data-sync-after [data-notifications-url]>, #connection-status, #toasts (created when
 * missing) and elements marked [data-unread-badge] or progress[data-task-run-id].
 *
 * The server pushes `notification`, `unread_count`, `task_run`, `wallet`, `delivery` and
 * (operators) `notifications_batch` events. This file shows toasts, keeps badges and progress
 * bars current, and re-dispatches each event as a DOM CustomEvent on <body> so templates can
 * react with htmx (hx-trigger="... from:body"):
 *   notification-created, notifications-batch, unread-count-changed, task-run-updated,
 *   wallet-updated, delivery-updated, live-connected, live-disconnected.
 * A scan tells operators of each chunk's notifications with one `notifications_batch`
 * {task_run_id, count, by_type, last_id}: one summary toast, and one refresh of the feeds.
 *
 * Nothing lost: the page sends `sync` {after_id} on every connect, every ~30 s while
 * connected, and when the tab becomes visible; the server replays what is missing, in order,
 * then the unread count, and acknowledges with {sent, last_id}: where the next sync starts.
 * That is the last id sent unless a lower id may still commit (two writers on PostgreSQL:
 * the lower id commits after the higher one was sent), so such a notification still comes;
 * ids already here are dropped, so nothing shows twice. The first sync starts where the
 * server said the page was rendered up to (data-sync-after). The newest id seen is kept in
 * localStorage, so a new tab does not toast what another tab already showed. Connection
 * states on #connection-status:
 * "Live"; "Reconnecting…" while socket.io retries, including while the server refuses with
 * data {retry: true} (its Redis subscription is down, so it would miss events); "Offline"
 * when the server refused or dropped us for good (signed out, account disabled).
 *
 * The only global is window.quantifyLive = {socket, lastId(), syncAfter(), sync()} for
 * debugging and tests.
 */
(function () {
    "use strict";

    var TOAST_MS = 8000;
    var CRITICAL_TOAST_MS = 15000;
    // A scan can fan thousands of notifications out to an operator at once: past this many
    // within the window, one summary toast replaces the individual ones.
    var BURST_LIMIT = 3;
    var BURST_WINDOW_MS = 2000;
    // Never stack more than this many toasts; the oldest ordinary one goes first.
    var MAX_TOASTS = 5;
    // Ids remembered for de-duplication; an operator tab can stay open for days.
    var MAX_SEEN = 5000;
    // Catch-up sync while connected (see schedulePeriodicSync), and the least time between
    // two syncs caused by the tab becoming visible.
    var PERIODIC_SYNC_MS = 30000;
    var SETTLE_SYNC_MS = 800; // after the last notification of a burst
    var MIN_SYNC_GAP_MS = 2000;
    // Retrying a connection the server refused as temporarily unavailable.
    var RETRY_FIRST_MS = 1000;
    var RETRY_MAX_MS = 5000;

    /**
     * Starts the client once the body exists (the script may be loaded in <head>).
     */
    function boot() {
        if (document.readyState === "loading") {
            document.addEventListener("DOMContentLoaded", start, { once: true });
        } else {
            start();
        }
    }

    /**
     * Connects and wires every handler; a signed-out page (no data-user-id) stays silent.
     */
    function start() {
        var body = document.body;
        var userId = body && body.getAttribute("data-user-id");
        if (!userId) {
            return;
        }
        var statusEl = document.getElementById("connection-status");
        if (typeof window.io !== "function") {
            // The vendored client failed to load: say so rather than pretend to be live.
            setStatus(statusEl, "offline", "Offline");
            return;
        }

        var storageKey = "quantify:last-id:" + userId;
        var lastId = initialLastId(body, storageKey);
        // Ids up to here were on the page (or another tab showed them): a replay of one is
        // not news, so no toast.
        var knownUpTo = lastId;
        var syncAfter = Math.min(toId(body.getAttribute("data-sync-after") || String(lastId)),
                                 lastId);
        var seen = new Map(); // notification id -> resolved_at last seen in this page
        var covered = new Map(); // task run id -> highest id of its batches seen here
        var toasts = createToaster(body);

        setStatus(statusEl, "reconnecting", "Connecting…");

        var socket = window.io({
            transports: ["websocket", "polling"],
            reconnection: true,
            reconnectionDelayMax: 5000
        });

        var syncTimer = null;
        var settleTimer = null;
        var lastSyncAt = 0;
        var retryTimer = null;
        var retryDelay = RETRY_FIRST_MS;

        /**
         * Asks the server for every notification after `syncAfter`, then the unread count;
         * replays arrive through the normal `notification` handler. The acknowledgement says
         * where the next sync starts (any answer is safe to resume from, so the furthest).
         */
        function sync() {
            if (socket.connected) {
                lastSyncAt = Date.now();
                socket.emit("sync", { after_id: syncAfter }, function (ack) {
                    if (ack && typeof ack.last_id === "number" && ack.last_id > syncAfter) {
                        syncAfter = ack.last_id;
                    }
                });
            }
        }

        /**
         * While connected, sync every ~30 s. A publish that failed while this websocket
         * stayed up (Redis blipped, or the worker could not reach it) is otherwise never
         * seen; an empty sync is one indexed query. Jittered so tabs opened together do not
         * sync together.
         */
        function schedulePeriodicSync() {
            window.clearTimeout(syncTimer);
            syncTimer = window.setTimeout(function () {
                sync();
                schedulePeriodicSync();
            }, PERIODIC_SYNC_MS * (0.8 + 0.4 * Math.random()));
        }

        socket.on("connect", function () {
            window.clearTimeout(retryTimer);
            retryDelay = RETRY_FIRST_MS;
            setStatus(statusEl, "live", "Live");
            // Every connect, first or re-, asks for what this page missed.
            sync();
            schedulePeriodicSync();
            emit("live-connected", { after_id: lastId });
        });

        socket.on("disconnect", function (reason) {
            window.clearTimeout(syncTimer);
            // After a server-side disconnect (account disabled or revoked) or a deliberate
            // one, socket.io does not retry by itself: that is final, so "Offline".
            if (socket.active) {
                setStatus(statusEl, "reconnecting", "Reconnecting…");
            } else {
                setStatus(statusEl, "offline", "Offline");
            }
            emit("live-disconnected", { reason: reason });
        });

        socket.on("connect_error", function (err) {
            if (err && err.data && err.data.retry) {
                // The server is up but cannot deliver events yet (its message queue is
                // reconnecting). socket.io treats any refusal as final, so retry ourselves.
                setStatus(statusEl, "reconnecting", "Reconnecting…");
                window.clearTimeout(retryTimer);
                retryTimer = window.setTimeout(function () {
                    if (!socket.connected) {
                        socket.connect();
                    }
                }, retryDelay * (0.75 + 0.5 * Math.random()));
                retryDelay = Math.min(retryDelay * 2, RETRY_MAX_MS);
            } else if (socket.active) {
                // A transport error: socket.io's own reconnection loop carries on.
                setStatus(statusEl, "reconnecting", "Reconnecting…");
            } else {
                // Refused for authentication (signed out, session expired): final.
                setStatus(statusEl, "offline", "Offline");
            }
        });

        socket.io.on("reconnect_attempt", function () {
            setStatus(statusEl, "reconnecting", "Reconnecting…");
        });

        socket.io.on("reconnect_failed", function () {
            setStatus(statusEl, "offline", "Offline");
        });

        // A tab coming back to the front catches up at once rather than at the next tick
        // (timers in background tabs are throttled, and a laptop may have slept).
        document.addEventListener("visibilitychange", function () {
            if (document.visibilityState === "visible" && socket.connected &&
                    Date.now() - lastSyncAt > MIN_SYNC_GAP_MS) {
                sync();
                schedulePeriodicSync();
            }
        });

        socket.on("notification", function (payload) {
            if (!payload || typeof payload.id !== "number") {
                return;
            }
            var resolvedAt = payload.resolved_at || null;
            var isUpdate = false;
            if (seen.has(payload.id)) {
                if (seen.get(payload.id) === resolvedAt) {
                    return; // A replay of something this page already has (sync overlap).
                }
                isUpdate = true;
            } else if (inBatchSeen(payload)) {
                // Told already by its scan's `notifications_batch`, whose refresh showed it;
                // now resolved, it is news to the lists but still not a toast.
                remember(payload.id, resolvedAt);
                if (!resolvedAt) {
                    return;
                }
                isUpdate = true;
            } else if (payload.id <= knownUpTo || (resolvedAt && payload.id <= lastId)) {
                // On the page already, or an older one resolved since: refresh, no toast.
                isUpdate = true;
            }
            remember(payload.id, resolvedAt);
            if (payload.id > lastId) {
                lastId = payload.id;
                storeLastId(storageKey, lastId);
            }
            if (!isUpdate) {
                toasts.notify(payload);
            }
            emit("notification-created", payload);
            scheduleSettleSync();
        });

        /**
         * Records an id this page has, forgetting the oldest beyond MAX_SEEN.
         */
        function remember(id, resolvedAt) {
            seen.set(id, resolvedAt);
            if (seen.size > MAX_SEEN) {
                seen.delete(seen.keys().next().value); // Maps iterate oldest first.
            }
        }

        /**
         * Whether a scan's notification was already announced by a batch of its run.
         */
        function inBatchSeen(payload) {
            var run = payload.data && payload.data.task_run_id;
            return typeof run === "number" && covered.has(run) && payload.id <= covered.get(run);
        }

        // Operators: a scan chunk's notifications at once. One summary toast, one refresh of
        // the feeds through their own routes (hx-trigger "notifications-batch from:body").
        socket.on("notifications_batch", function (payload) {
            if (!payload || typeof payload.last_id !== "number" ||
                    typeof payload.count !== "number") {
                return;
            }
            if (typeof payload.task_run_id === "number") {
                covered.set(payload.task_run_id,
                            Math.max(covered.get(payload.task_run_id) || 0, payload.last_id));
            }
            if (payload.last_id > lastId) {
                lastId = payload.last_id;
                storeLastId(storageKey, lastId);
            }
            if (payload.count > 0) {
                toasts.notifyMany(payload.count);
            }
            emit("notifications-batch", payload);
        });

        /**
         * Unread counts come from several processes (two worker tasks finishing together),
         * and the one computed first can arrive last. A sync shortly after a burst of
         * notifications ends with a count computed after all of them, so the badge settles
         * on the right number within a second.
         */
        function scheduleSettleSync() {
            window.clearTimeout(settleTimer);
            settleTimer = window.setTimeout(sync, SETTLE_SYNC_MS);
        }

        socket.on("unread_count", function (payload) {
            var count = payload && typeof payload.count === "number" ? payload.count : 0;
            var badges = document.querySelectorAll("[data-unread-badge]");
            for (var i = 0; i < badges.length; i++) {
                // Zero stays visible ("0"); CSS greys it out through data-count.
                badges[i].textContent = String(count);
                badges[i].setAttribute("data-count", String(count));
            }
            emit("unread-count-changed", { count: count });
        });

        socket.on("task_run", function (payload) {
            if (!payload) {
                return;
            }
            updateProgress(payload);
            emit("task-run-updated", payload);
        });

        socket.on("wallet", function (payload) {
            emit("wallet-updated", payload);
        });

        // An email or SMS delivery changed status (operators): the Deliveries page and the
        // notification rows refresh through their own routes.
        socket.on("delivery", function (payload) {
            emit("delivery-updated", payload);
        });

        // Pages restored from the back/forward cache come back with a dead socket.
        window.addEventListener("pageshow", function (event) {
            if (event.persisted && !socket.connected) {
                socket.connect();
            }
        });

        window.quantifyLive = {
            socket: socket,
            lastId: function () {
                return lastId;
            },
            syncAfter: function () {
                return syncAfter;
            },
            sync: sync
        };
    }

    /**
     * The id to sync after: the larger of what this browser stored and what the page says it
     * rendered, so a fresh tab never replays history the server already put on the page.
     */
    function initialLastId(body, storageKey) {
        var fromPage = toId(body.getAttribute("data-last-notification-id"));
        var fromStorage = 0;
        try {
            fromStorage = toId(window.localStorage.getItem(storageKey));
        } catch (e) {
            // Storage can be unavailable (privacy mode, disabled cookies): keep going without it.
        }
        var id = Math.max(fromPage, fromStorage);
        if (id > fromStorage) {
            storeLastId(storageKey, id);
        }
        return id;
    }

    /**
     * Saves the highest id seen, never moving backwards when several tabs share the key.
     */
    function storeLastId(storageKey, id) {
        try {
            if (toId(window.localStorage.getItem(storageKey)) < id) {
                window.localStorage.setItem(storageKey, String(id));
            }
        } catch (e) {
            // Not fatal: the in-page id still drives sync for this tab.
        }
    }

    /**
     * Parses a non-negative integer id; anything else counts as 0 ("nothing seen").
     */
    function toId(value) {
        var n = parseInt(value, 10);
        return isFinite(n) && n > 0 ? n : 0;
    }

    /**
     * Updates the connection pill; the element itself is the aria-live region, so only the
     * text changes and screen readers hear the new state.
     */
    function setStatus(el, state, text) {
        if (!el) {
            return;
        }
        if (!el.hasAttribute("aria-live")) {
            el.setAttribute("aria-live", "polite");
        }
        if (el.getAttribute("data-state") !== state || el.textContent !== text) {
            el.setAttribute("data-state", state);
            el.textContent = text;
        }
    }

    /**
     * Dispatches a bubbling CustomEvent on <body> for templates and htmx triggers.
     */
    function emit(name, detail) {
        document.body.dispatchEvent(new CustomEvent(name, { detail: detail, bubbles: true }));
    }

    /**
     * Moves every progress bar for this task run without waiting for an htmx refresh.
     */
    function updateProgress(run) {
        if (run.id === undefined || run.id === null) {
            return;
        }
        var selector = 'progress[data-task-run-id="' + cssEscape(String(run.id)) + '"]';
        var bars = document.querySelectorAll(selector);
        var progress = run.progress || {};
        var total = Number(progress.total);
        var done = Number(progress.done);
        for (var i = 0; i < bars.length; i++) {
            var bar = bars[i];
            if (run.state) {
                bar.setAttribute("data-state", run.state);
            }
            if (total > 0 && done >= 0) {
                bar.max = total;
                bar.value = Math.min(done, total);
                bar.textContent = Math.round((100 * Math.min(done, total)) / total) + "%";
            } else if (run.state === "succeeded") {
                // Nothing to scan still means finished: show a full bar, not a spinner.
                bar.max = 1;
                bar.value = 1;
                bar.textContent = "100%";
            } else {
                // Total not known yet: an indeterminate bar says "working" honestly.
                bar.removeAttribute("value");
                bar.textContent = "";
            }
        }
    }

    /**
     * Escapes a value for an attribute selector (CSS.escape is missing in very old browsers).
     */
    function cssEscape(value) {
        if (window.CSS && typeof window.CSS.escape === "function") {
            return window.CSS.escape(value);
        }
        return value.replace(/[^a-zA-Z0-9_-]/g, "");
    }

    /**
     * Builds the toast area: one toast per notification, collapsing into a single summary
     * toast when a burst arrives (a scan notifying thousands of wallets at once).
     */
    function createToaster(body) {
        var container = document.getElementById("toasts");
        if (!container) {
            container = document.createElement("div");
            container.id = "toasts";
            body.appendChild(container);
        }
        var arrivals = []; // {at, toast} for the notifications inside the burst window
        var summary = null; // {el, count, timer, critical} while a burst is running
        var notificationsUrl = body.getAttribute("data-notifications-url");
        var timers = new WeakMap(); // toast element -> {ms, id} of its auto-dismiss timer

        /**
         * Shows one notification, or folds it into the running burst summary.
         */
        function notify(payload) {
            var now = Date.now();
            arrivals = arrivals.filter(function (a) {
                return now - a.at <= BURST_WINDOW_MS;
            });
            var critical = payload.priority === "critical";

            if (summary && now - summary.lastAt <= BURST_WINDOW_MS) {
                summary.count += 1;
                summary.lastAt = now;
                summary.critical = summary.critical || critical;
                renderSummary();
                return;
            }
            summary = null;

            if (arrivals.length + 1 > BURST_LIMIT) {
                // Too many at once: fold this one and the window's individual toasts into one.
                var folded = arrivals.length + 1;
                arrivals.forEach(function (a) {
                    critical = critical || a.critical;
                    removeToast(a.toast);
                });
                arrivals = [];
                summary = { el: null, count: folded, lastAt: now, critical: critical, timer: null };
                renderSummary();
                return;
            }

            var toast = show({
                title: payload.title || "Notification",
                message: payload.message || "",
                critical: critical,
                extraClass: payload.priority === "high" ? "toast-priority-high" : null
            });
            arrivals.push({ at: now, toast: toast, critical: critical });
        }

        /**
         * Shows that `count` notifications arrived at once (a scan chunk): folded into the
         * running summary, or a new one that also takes in the window's individual toasts.
         */
        function notifyMany(count) {
            var now = Date.now();
            if (summary && now - summary.lastAt <= BURST_WINDOW_MS) {
                summary.count += count;
                summary.lastAt = now;
                renderSummary();
                return;
            }
            var critical = false;
            var folded = count;
            arrivals.forEach(function (a) {
                if (now - a.at <= BURST_WINDOW_MS) {
                    folded += 1;
                    critical = critical || a.critical;
                    removeToast(a.toast);
                }
            });
            arrivals = [];
            summary = { el: null, count: folded, lastAt: now, critical: critical, timer: null };
            renderSummary();
        }

        /**
         * Creates or refreshes the "N new notifications" summary toast.
         */
        function renderSummary() {
            var text = summary.count.toLocaleString("en-US") + " new notifications";
            if (!summary.el || !summary.el.isConnected) {
                summary.el = show({
                    title: text,
                    message: summary.critical ? "Some are critical." : "",
                    critical: summary.critical,
                    extraClass: "toast-summary",
                    // Refreshing an alert region would re-announce on every update; the
                    // summary is a polite status even when it contains critical items.
                    role: "status",
                    link: notificationsUrl
                });
            } else {
                summary.el.querySelector(".toast-title").textContent = text;
                var msg = summary.el.querySelector(".toast-message");
                msg.textContent = summary.critical ? "Some are critical." : "";
                msg.hidden = !summary.critical;
                summary.el.classList.toggle("toast-critical", summary.critical);
                timers.get(summary.el).ms = summary.critical ? CRITICAL_TOAST_MS : TOAST_MS;
                restartTimer(summary.el);
            }
        }

        /**
         * Builds a toast. Text goes in with textContent only: titles and messages carry
         * resident-supplied names, which may contain markup.
         */
        function show(opts) {
            var el = document.createElement("div");
            el.className = "toast" + (opts.critical ? " toast-critical" : "") +
                (opts.extraClass ? " " + opts.extraClass : "");
            el.setAttribute("role", opts.role || (opts.critical ? "alert" : "status"));
            el.setAttribute("aria-atomic", "true");
            timers.set(el, { ms: opts.critical ? CRITICAL_TOAST_MS : TOAST_MS, id: null });

            var content = document.createElement("div");
            content.className = "toast-body";
            var title = document.createElement("strong");
            title.className = "toast-title";
            title.textContent = opts.title;
            content.appendChild(title);
            var message = document.createElement("p");
            message.className = "toast-message";
            message.textContent = opts.message;
            message.hidden = !opts.message;
            content.appendChild(message);
            if (opts.link) {
                var link = document.createElement("a");
                link.className = "toast-link";
                link.href = opts.link;
                link.textContent = "View notifications";
                content.appendChild(link);
            }

            var close = document.createElement("button");
            close.type = "button";
            close.className = "toast-close";
            close.setAttribute("aria-label", "Dismiss");
            close.textContent = "×";
            close.addEventListener("click", function () {
                removeToast(el);
            });

            el.appendChild(content);
            el.appendChild(close);
            // Reading a toast should not race its timer (WCAG 2.2.1): pause on hover/focus.
            el.addEventListener("mouseenter", function () { stopTimer(el); });
            el.addEventListener("mouseleave", function () { restartTimer(el); });
            el.addEventListener("focusin", function () { stopTimer(el); });
            el.addEventListener("focusout", function () { restartTimer(el); });

            container.appendChild(el);
            trim();
            restartTimer(el);
            return el;
        }

        /**
         * Keeps the stack short, dropping the oldest ordinary toasts before any critical one.
         */
        function trim() {
            var all = container.querySelectorAll(".toast:not(.is-leaving)");
            var excess = all.length - MAX_TOASTS;
            for (var i = 0; i < all.length && excess > 0; i++) {
                if (!all[i].classList.contains("toast-critical")) {
                    removeToast(all[i]);
                    excess--;
                }
            }
            for (var j = 0; j < all.length && excess > 0; j++) {
                if (all[j].isConnected && !all[j].classList.contains("is-leaving")) {
                    removeToast(all[j]);
                    excess--;
                }
            }
        }

        /**
         * (Re)arms the auto-dismiss timer of a toast.
         */
        function restartTimer(el) {
            stopTimer(el);
            var timer = timers.get(el);
            timer.id = window.setTimeout(function () {
                removeToast(el);
            }, timer.ms);
        }

        /**
         * Cancels the auto-dismiss timer while someone is reading the toast.
         */
        function stopTimer(el) {
            var timer = timers.get(el);
            if (timer && timer.id !== null) {
                window.clearTimeout(timer.id);
                timer.id = null;
            }
        }

        /**
         * Fades a toast out, then removes it (at once when motion is reduced).
         */
        function removeToast(el) {
            if (!el || !el.isConnected || el.classList.contains("is-leaving")) {
                return;
            }
            stopTimer(el);
            el.classList.add("is-leaving");
            var reduce = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
            window.setTimeout(function () {
                el.remove();
            }, reduce ? 0 : 200);
        }

        return { notify: notify, notifyMany: notifyMany };
    }

    boot();
})();
