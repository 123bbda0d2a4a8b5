/// The dashboard's Mustache templates, stylesheet and script, kept in the binary (nothing is
/// loaded from outside the machine). `{{x}}` escapes HTML; `{{{x}}}` is used only for markup
/// the server made itself (the chart, the counts bar).
enum DashboardTemplates {
    static let all: [String: String] = [
        "layout-top": layoutTop, "layout-bottom": layoutBottom, "workloads": workloads, "workload": workload,
        "workflows": workflows, "workflow": workflow, "login": login, "confirm": confirm, "error": error,
    ]

    static let layoutTop = """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{title}} · wfl</title><link rel="stylesheet" href="/ui/style.css"><link rel="icon" href="/ui/favicon.svg"><script src="/ui/app.js" defer></script></head>
        <body><header><a class="brand" href="/ui/">Workflow Launcher</a>
        <span class="who">{{who}}{{#role}} · {{role}}{{/role}}</span>
        {{#loggedIn}}<form method="post" action="/ui/logout" class="inline"><input type="hidden" name="csrf" value="{{csrf}}"><button class="link">Log out</button></form>{{/loggedIn}}
        </header><main>
        {{#notice}}<p class="notice" role="status">{{notice}}</p>{{/notice}}
        """

    static let layoutBottom = """
        </main><footer>wfl {{version}}</footer></body></html>
        """

    static let workloads = """
        {{> layout-top}}
        <h1>Workloads</h1>
        <form method="get" action="/ui/" class="filters">
          <label>Project <input name="project" value="{{project}}" maxlength="1024"></label>
          <label>Label <input name="label" value="{{label}}" maxlength="1024" placeholder="team:imaging"></label>
          <label>Creator <input name="creator" value="{{creator}}" maxlength="1024"></label>
          <label>State <select name="state">{{#states}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/states}}</select></label>
          <button>Filter</button>
        </form>
        {{#empty}}<p class="empty">No workloads match.</p>{{/empty}}
        {{^empty}}
        <table class="list" id="workloads"><thead><tr><th>Workload</th><th><a id="sort-project" href="{{sortProject}}">Project{{#sortedBy.project}} ▲{{/sortedBy.project}}</a></th><th>State</th><th>Executor</th><th>Creator</th><th><a id="sort-created" href="{{sortCreated}}">Created{{#sortedBy.newest}} ▼{{/sortedBy.newest}}{{#sortedBy.oldest}} ▲{{/sortedBy.oldest}}</a></th><th>Workflows</th><th>Progress</th></tr></thead><tbody>
        {{#rows}}<tr data-uuid="{{uuid}}"><td><a href="/ui/workloads/{{uuid}}">{{short}}</a></td><td>{{project}}</td><td><span class="state {{stateClass}}">{{state}}</span></td>
        <td>{{executor}}</td><td>{{creator}}</td><td>{{created}}</td><td>{{{bar}}}</td><td class="num">{{done}}/{{total}}</td></tr>{{/rows}}
        </tbody></table>
        {{/empty}}
        {{#next}}<p><a class="next" href="{{next}}">Next page →</a></p>{{/next}}
        {{> layout-bottom}}
        """

    static let workload = """
        {{> layout-top}}
        <h1>Workload <code>{{uuid}}</code></h1>
        <p class="sub">Project <strong>{{project}}</strong> · created {{created}} by {{creator}} · <span class="state {{stateClass}}" id="state">{{state}}</span></p>
        <section class="progress" data-live="/ui/workloads/{{uuid}}/live">
          <progress id="progress" max="100" value="{{percent}}">{{percent}}%</progress>
          <p><span id="done">{{done}}</span> of <span id="total">{{total}}</span> workflows done (<span id="percent">{{percent}}</span>%) · <span id="eta">{{eta}}</span></p>
          <div id="counts">{{{bar}}}</div>
          <ul class="counts" id="count-list">{{#counts}}<li class="{{class}}"><a href="/ui/workloads/{{uuid}}/workflows?status={{status}}">{{status}}</a> <strong data-status="{{status}}">{{count}}</strong></li>{{/counts}}</ul>
        </section>
        {{#lastError}}<section class="error-box" id="last-error"><h2>Last error</h2><p>{{message}}</p><p class="sub">{{at}} · {{consecutive}} in a row{{#quarantined}} · quarantined: updates are paused{{/quarantined}}</p></section>{{/lastError}}
        {{#canOperate}}
        <section class="actions"><h2>Actions</h2>
          {{#canStart}}<form method="post" action="/ui/workloads/{{uuid}}/start" class="inline"><input type="hidden" name="csrf" value="{{csrf}}"><button id="start">Start</button></form>{{/canStart}}
          {{#canStop}}<form method="post" action="/ui/workloads/{{uuid}}/stop" class="inline"><input type="hidden" name="csrf" value="{{csrf}}"><button id="stop">Stop</button></form>{{/canStop}}
          {{#canAbort}}<form method="post" action="/ui/workloads/{{uuid}}/abort" class="inline"><input type="hidden" name="csrf" value="{{csrf}}"><button id="abort" class="danger">Abort…</button></form>{{/canAbort}}
          {{#failed}}<form method="post" action="/ui/workloads/{{uuid}}/retry" class="retry"><input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="status" value="Failed">
            <label>Overrides (JSON, optional) <input name="overrides" placeholder='{"memory": "16G"}' maxlength="4096"></label>
            <button id="retry-failed">Retry the {{failed}} failed</button></form>{{/failed}}
        </section>
        {{/canOperate}}
        <section><h2>Workflows finished per minute (last hour)</h2>{{{chart}}}</section>
        <section class="stages"><h2>Stages</h2>
          <dl><dt>Source</dt><dd><pre>{{source}}</pre></dd><dt>Executor</dt><dd><pre>{{executor}}</pre></dd><dt>Sink</dt><dd><pre>{{sink}}</pre></dd></dl>
          <p><a href="/ui/workloads/{{uuid}}/workflows">All workflows →</a></p>
        </section>
        <section><h2>Events (newest first)</h2>
        <table class="list" id="events"><thead><tr><th>Time</th><th>Kind</th><th>By</th><th>Message</th></tr></thead><tbody>
        {{#events}}<tr><td>{{at}}</td><td>{{kind}}</td><td>{{by}}</td><td>{{message}}</td></tr>{{/events}}
        </tbody></table></section>
        {{> layout-bottom}}
        """

    static let workflows = """
        {{> layout-top}}
        <h1>Workflows of <a href="/ui/workloads/{{uuid}}"><code>{{short}}</code></a></h1>
        <form method="get" class="filters"><label>Status <select name="status">{{#statuses}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/statuses}}</select></label>
        <label><input type="checkbox" name="includeRetried" value="true"{{#includeRetried}} checked{{/includeRetried}}> with retried attempts</label><button>Filter</button></form>
        {{#empty}}<p class="empty">No workflows.</p>{{/empty}}
        {{^empty}}
        <table class="list" id="workflows"><thead><tr><th>Workflow</th><th>Status</th><th>Attempt</th><th>Inputs</th><th>Error</th><th>Updated</th><th>Attempts</th></tr></thead><tbody>
        {{#rows}}<tr data-status="{{status}}"><td><a href="/ui/workflows/{{uuid}}">{{short}}</a></td><td><span class="status {{class}}">{{status}}</span></td><td class="num">{{attempt}}</td>
        <td><code class="inputs">{{inputs}}</code></td><td class="err">{{error}}</td><td>{{updated}}</td>
        <td>{{#retryOf}}<a href="/ui/workflows/{{retryOf}}">← earlier</a> {{/retryOf}}{{#retriedBy}}<a href="/ui/workflows/{{retriedBy}}">retry →</a>{{/retriedBy}}</td></tr>{{/rows}}
        </tbody></table>
        {{/empty}}
        {{#next}}<p><a class="next" href="{{next}}">Next page →</a></p>{{/next}}
        {{> layout-bottom}}
        """

    static let workflow = """
        {{> layout-top}}
        <h1>Workflow <code>{{uuid}}</code></h1>
        <p class="sub">Of workload <a href="/ui/workloads/{{workload}}"><code>{{workloadShort}}</code></a> · attempt {{attempt}} · <span class="status {{class}}">{{status}}</span>{{#externalId}} · backend id <code>{{externalId}}</code>{{/externalId}}</p>
        {{#error}}<section class="error-box"><h2>Error</h2><p>{{error}}</p></section>{{/error}}
        <p>{{#retryOf}}<a href="/ui/workflows/{{retryOf}}">← the attempt it retried</a> {{/retryOf}}{{#retriedBy}}<a href="/ui/workflows/{{retriedBy}}">its retry →</a>{{/retriedBy}}</p>
        <section><h2>Inputs</h2><pre id="inputs">{{inputs}}</pre></section>
        <section><h2>Outputs</h2><pre id="outputs">{{outputs}}</pre></section>
        <section><h2>Backend details</h2><pre>{{details}}</pre></section>
        {{#logs}}<section><h2>{{stream}} (last lines)</h2>{{#text}}<pre class="log" id="log-{{stream}}">{{text}}</pre>{{/text}}{{#message}}<p class="sub">{{message}}{{#link}} <a href="{{link}}" rel="noreferrer">{{link}}</a>{{/link}}</p>{{/message}}</section>{{/logs}}
        {{> layout-bottom}}
        """

    static let login = """
        {{> layout-top}}
        <h1>Log in</h1>
        <p>This server requires credentials. Paste an API token (from <code>wfl token create</code>) or an OIDC JWT.</p>
        <form method="post" action="/ui/login"><input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="next" value="{{next}}">
        <label>Token <input type="password" name="token" autocomplete="off" required maxlength="16000" id="token"></label> <button id="login">Log in</button></form>
        {{> layout-bottom}}
        """

    static let confirm = """
        {{> layout-top}}
        <h1>Abort workload <code>{{short}}</code>?</h1>
        <p>Its source takes no more items, and its {{active}} active workflow(s) are aborted at the backend. This cannot be undone (a retry relaunches them as new attempts).</p>
        <form method="post" action="/ui/workloads/{{uuid}}/abort"><input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="confirm" value="yes">
        <button class="danger" id="confirm-abort">Yes, abort it</button> <a href="/ui/workloads/{{uuid}}">No, go back</a></form>
        {{> layout-bottom}}
        """

    static let error = """
        {{> layout-top}}
        <h1>{{heading}}</h1><p class="error-box">{{message}}</p><p><a href="/ui/">Workloads</a></p>
        {{> layout-bottom}}
        """

    static let favicon = """
        <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#1565c0"/><path d="M3 11h2V6H3zm4 0h2V3H7zm4 0h2V8h-2z" fill="#fff"/></svg>
        """

    static let stylesheet = """
        :root { --fg: #1d2330; --muted: #5b6472; --line: #d9dde3; --ok: #2e7d32; --bad: #c62828; --run: #1565c0; --wait: #8d6e00; --bg: #fff; }
        * { box-sizing: border-box; }
        body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); margin: 0; background: var(--bg); }
        header { display: flex; gap: 1rem; align-items: center; padding: .6rem 1.2rem; border-bottom: 1px solid var(--line); }
        header .brand { font-weight: 600; color: var(--fg); text-decoration: none; }
        header .who { margin-left: auto; color: var(--muted); }
        main { padding: 1rem 1.2rem; max-width: 1200px; }
        footer { padding: 1rem 1.2rem; color: var(--muted); font-size: 13px; }
        h1 { font-size: 1.4rem; margin: .2rem 0 .6rem; } h2 { font-size: 1.05rem; margin: 1.2rem 0 .4rem; }
        .sub { color: var(--muted); } code, pre { font: 13px/1.4 ui-monospace, "SFMono-Regular", Menlo, monospace; }
        pre { background: #f6f7f9; border: 1px solid var(--line); padding: .6rem; overflow: auto; max-height: 24rem; white-space: pre-wrap; word-break: break-word; }
        table.list { border-collapse: collapse; width: 100%; } table.list th, table.list td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
        table.list th { font-weight: 600; font-size: 13px; color: var(--muted); } td.num { text-align: right; font-variant-numeric: tabular-nums; }
        code.inputs { display: inline-block; max-width: 28rem; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
        td.err { color: var(--bad); max-width: 24rem; }
        .filters { display: flex; gap: 1rem; align-items: end; margin: .4rem 0 1rem; flex-wrap: wrap; }
        input, select, button { font: inherit; padding: .25rem .5rem; } button { cursor: pointer; border: 1px solid var(--line); background: #f3f5f8; border-radius: 4px; }
        button.danger { border-color: var(--bad); color: var(--bad); } button.link { border: 0; background: none; color: var(--run); padding: 0; }
        form.inline { display: inline; } form.retry { margin-top: .6rem; display: flex; gap: .6rem; align-items: end; flex-wrap: wrap; }
        .state, .status { padding: .05rem .45rem; border-radius: 9px; font-size: 13px; border: 1px solid currentColor; }
        .Succeeded, .Finished { color: var(--ok); } .Failed, .Aborted, .Aborting { color: var(--bad); } .Running, .Submitted, .Queued { color: var(--run); } .Pending, .Created, .Stopped { color: var(--wait); }
        progress { width: 100%; max-width: 40rem; height: 14px; accent-color: var(--ok); }
        svg.counts { display: block; } ul.counts { list-style: none; padding: 0; display: flex; gap: 1.2rem; flex-wrap: wrap; }
        .error-box { border-left: 4px solid var(--bad); padding: .3rem .8rem; background: #fdf3f3; }
        .notice { border-left: 4px solid var(--run); padding: .3rem .8rem; background: #f1f6fd; }
        dl { display: grid; grid-template-columns: 6rem 1fr; gap: .3rem 1rem; } dd { margin: 0; }
        svg.chart { border: 1px solid var(--line); background: #fbfcfd; } svg.chart rect { fill: var(--run); } svg.chart text { font-size: 11px; fill: var(--muted); }
        @media print { header form, .actions, .filters, a.next { display: none; } pre { max-height: none; } body { font-size: 12px; } }
        """

    /// Refreshes a workload page's numbers every 5 seconds without a reload (one small JSON
    /// request, a fixed number of queries on the server), and nothing else.
    static let script = """
        "use strict";
        (function () {
          const live = document.querySelector("[data-live]");
          if (!live) return;
          const set = (id, text) => { const el = document.getElementById(id); if (el) el.textContent = text; };
          async function refresh() {
            try {
              const reply = await fetch(live.dataset.live, { headers: { Accept: "application/json" }, credentials: "same-origin" });
              if (!reply.ok) return;
              const data = await reply.json();
              set("done", data.done); set("total", data.total); set("percent", data.percent); set("eta", data.eta); set("state", data.state);
              const bar = document.getElementById("progress"); if (bar) bar.value = data.percent;
              for (const el of document.querySelectorAll("[data-status]")) {
                if (el.tagName === "STRONG" && data.counts[el.dataset.status] !== undefined) el.textContent = data.counts[el.dataset.status];
              }
              document.body.dataset.refreshed = String(Date.now());
            } catch (e) { /* the next refresh tries again */ }
          }
          // Every 5 s while the tab is visible and the workload not over.
          const timer = setInterval(() => {
            const state = (document.getElementById("state") || {}).textContent;
            if (state === "Finished" || state === "Aborted") { clearInterval(timer); return; }
            if (!document.hidden) refresh();
          }, 5000);
        })();
        """
}
