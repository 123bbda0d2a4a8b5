"""The dashboard in a real browser: Debian's Chromium driven by Playwright.

Run by DashboardBrowserTests (Tests/WFLCLITests) against a live `wfl serve --auth` it seeded:
WFL_BASE, WFL_OPERATOR_TOKEN, WFL_VIEWER_TOKEN, WFL_FINISHED (a workload with 4 succeeded
and 2 failed workflows), WFL_RUNNING (one whose workflows run for minutes), WFL_SHOTS (where
screenshots go). Exits 1 with the failed checks listed.
"""
import json
import os
import sys
import urllib.error
import urllib.request

from playwright.sync_api import sync_playwright

BASE = os.environ["WFL_BASE"]
OPERATOR = os.environ["WFL_OPERATOR_TOKEN"]
VIEWER = os.environ["WFL_VIEWER_TOKEN"]
FINISHED = os.environ["WFL_FINISHED"]
RUNNING = os.environ["WFL_RUNNING"]
LIVE = os.environ["WFL_LIVE"]
SHOTS = os.environ["WFL_SHOTS"]
CHROMIUM = os.environ.get("WFL_CHROMIUM", "/usr/bin/chromium")
failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what, flush=True)
    if not condition:
        failures.append(what)


def api(path, token=OPERATOR):
    request = urllib.request.Request(BASE + path, headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.load(reply)


def post(path, data, cookie, origin=BASE):
    """A form post as a browser sends it (its Origin), outside the browser: (status, body)."""
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie}
    if origin:
        headers["Origin"] = origin
    request = urllib.request.Request(BASE + path, data=data.encode(), method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def login(page, token):
    page.goto(BASE + "/ui/")
    check("/ui/login" in page.url, "an unknown browser is sent to the login page")
    page.fill("#token", token)
    page.click("#login")
    page.wait_for_url(BASE + "/ui/")


def number(page, selector):
    return page.locator(selector).first.inner_text().strip()


with sync_playwright() as playwright:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)

    # The workloads page, as an operator.
    login(page, OPERATOR)
    rows = page.locator("#workloads tbody tr")
    check(rows.count() == 3, f"the workloads page lists the three workloads ({rows.count()})")
    finished_row = page.locator(f"tr[data-uuid='{FINISHED}']").inner_text()
    check("6/6" in finished_row and "Finished" in finished_row, f"the finished workload's row says 6/6 Finished: {finished_row!r}")
    page.screenshot(path=f"{SHOTS}/workloads.png", full_page=True)
    page.emulate_media(media="print")
    page.screenshot(path=f"{SHOTS}/workloads-print.png", full_page=True)
    page.emulate_media(media="screen")
    # Sortable: the Created header turns the order round, and the order is kept in the link.
    oldest = [rows.nth(i).get_attribute("data-uuid") for i in range(rows.count())]
    page.click("#sort-created")
    page.wait_for_url("**sort=newest**")
    newest = [rows.nth(i).get_attribute("data-uuid") for i in range(rows.count())]
    check(newest == list(reversed(oldest)), f"sorting by Created, newest first, reverses the list ({oldest} → {newest})")
    check("sort=oldest" in (page.locator("#sort-created").get_attribute("href") or ""), "the header now offers oldest first")

    # The workload page: the numbers of the seeded database.
    page.goto(f"{BASE}/ui/workloads/{FINISHED}")
    check(number(page, "#done") == "6" and number(page, "#total") == "6", "the workload page says 6 of 6 done")
    check(number(page, "strong[data-status='Succeeded']") == "4", "4 succeeded")
    check(number(page, "strong[data-status='Failed']") == "2", "2 failed")
    check(page.locator("#throughput").count() == 1, "the throughput chart is drawn")
    check("6 workflows finished" in (page.locator("#throughput").get_attribute("aria-label") or ""), "the chart counts the 6 finished")
    check(page.locator("#events tbody tr").count() >= 4, "the event log is shown")
    page.screenshot(path=f"{SHOTS}/workload.png", full_page=True)

    # The failed workflows, then one of them.
    page.goto(f"{BASE}/ui/workloads/{FINISHED}/workflows?status=Failed")
    failed_rows = page.locator("#workflows tbody tr")
    check(failed_rows.count() == 2, f"the Failed filter lists 2 workflows ({failed_rows.count()})")
    check("\"n\"" in page.locator("#workflows tbody tr code.inputs").first.inner_text(), "each row shows its inputs")
    page.screenshot(path=f"{SHOTS}/workflows.png", full_page=True)
    page.locator("#workflows tbody tr a").first.click()
    page.wait_for_load_state()
    check("\"n\"" in page.locator("#inputs").inner_text(), "the workflow page shows its inputs")
    check(page.locator("text=keeps no logs").count() >= 1, "the workflow page says Mock keeps no logs")
    check(page.locator("a[href='nil'], a[href='']").count() == 0, "no empty or nil links")
    page.screenshot(path=f"{SHOTS}/workflow.png", full_page=True)

    # Retry the failed ones: exactly those are relaunched.
    failed = {w["uuid"] for w in api(f"/api/v1/workload/{FINISHED}/workflows?status=Failed&limit=100")}
    page.goto(f"{BASE}/ui/workloads/{FINISHED}")
    page.click("#retry-failed")
    page.wait_for_load_state()
    check("Retrying 2 workflow(s)." in page.locator(".notice").inner_text(), "the retry says it relaunched 2")
    attempts = api(f"/api/v1/workload/{FINISHED}/workflows?includeRetried=true&limit=100")
    retried = {w["retryOf"] for w in attempts if w.get("retryOf")}
    check(retried == failed and len(failed) == 2, f"the new attempts retry exactly the failed workflows ({retried} vs {failed})")

    # Abort asks first.
    page.goto(f"{BASE}/ui/workloads/{RUNNING}")
    page.click("#abort")
    page.wait_for_load_state()
    check(page.locator("#confirm-abort").count() == 1, "abort shows a confirmation first")
    check(api(f"/api/v1/workload/{RUNNING}").get("aborted") is None, "nothing is aborted before the confirmation")
    page.screenshot(path=f"{SHOTS}/abort-confirm.png", full_page=True)
    page.click("#confirm-abort")
    page.wait_for_load_state()
    check(api(f"/api/v1/workload/{RUNNING}").get("aborted") is not None, "the confirmed abort aborted the workload")
    check("Aborted" in page.locator(".notice").inner_text(), "the page says it aborted")

    # Live numbers: the page script refreshes a running workload's numbers without a reload.
    page.goto(f"{BASE}/ui/workloads/{LIVE}")
    # (Polled from here: the page's Content-Security-Policy allows no script Playwright would inject.)
    refreshed = None
    for _ in range(40):
        refreshed = page.locator("body").get_attribute("data-refreshed")
        if refreshed:
            break
        page.wait_for_timeout(300)
    check(refreshed is not None and number(page, "#total") == "2", "the workload page refreshed its numbers without a reload")

    # A form without the CSRF token, with the operator's cookie, is refused.
    cookies = "; ".join(f"{c['name']}={c['value']}" for c in context.cookies())
    page.goto(f"{BASE}/ui/workloads/{FINISHED}")
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    status, body = post(f"/ui/workloads/{RUNNING}/stop", "", cookies)
    check(status == 403 and "stale" in body, f"a form without its CSRF token is refused ({status})")
    status, body = post(f"/ui/workloads/{RUNNING}/stop", "csrf=forged", cookies)
    check(status == 403 and "stale" in body, f"a forged CSRF token is refused ({status})")
    status, body = post(f"/ui/workloads/{RUNNING}/stop", f"csrf={token}", cookies, origin="http://evil.example")
    check(status == 403 and "another site" in body, f"a good token from another site's page is refused ({status})")
    status, body = post(f"/ui/workloads/{RUNNING}/stop", f"csrf={token}", cookies, origin=None)
    check(status == 403 and "where it comes from" in body, f"a post that names no origin is refused ({status})")
    status, body = post(f"/ui/workloads/{FINISHED}/start", f"csrf={token}", cookies)
    check(status == 200 and "Started." in body, f"a post with its token, from the dashboard, is done ({status}; start is a no-op once started)")
    # Login and logout forms refused the same way answer with the login page, not JSON.
    for path in ["/ui/login", "/ui/logout"]:
        status, body = post(path, f"csrf=forged&token={OPERATOR}", cookies)
        check(status == 403 and "<html" in body and "stale" in body and "Log in" in body,
              f"a forged {path} form gets the login page saying why ({status}: {body[:80]})")
        status, body = post(path, f"csrf={token}", cookies, origin="http://evil.example")
        check(status == 403 and "<html" in body and "another site" in body, f"a {path} form from another site gets an HTML page ({status})")
    check(not errors, f"no script errors ({errors})")

    # A viewer sees no buttons, and the server refuses the action anyway.
    viewer = browser.new_context(viewport={"width": 1366, "height": 900})
    vpage = viewer.new_page()
    vpage.on("pageerror", lambda error: errors.append(str(error)))
    vpage.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    login(vpage, VIEWER)
    vpage.goto(f"{BASE}/ui/workloads/{FINISHED}")
    check(vpage.locator("#retry-failed, #abort, #stop, #start").count() == 0, "a viewer gets no buttons")
    vpage.screenshot(path=f"{SHOTS}/workload-viewer.png", full_page=True)
    csrf = vpage.locator("input[name=csrf]").first.get_attribute("value")
    vcookies = "; ".join(f"{c['name']}={c['value']}" for c in viewer.cookies())
    status, body = post(f"/ui/workloads/{FINISHED}/retry", f"csrf={csrf}&status=Failed", vcookies)
    check(status == 403 and "operator role required" in body, f"a viewer's retry, with a good CSRF token, is refused for its role ({status})")
    check(not errors, f"no script errors on the viewer's pages ({errors})")
    browser.close()

if failures:
    print(f"{len(failures)} check(s) failed: " + "; ".join(failures))
    sys.exit(1)
print("all dashboard checks passed")
