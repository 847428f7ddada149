//! The console in a real browser: Debian's chromium driven through chromedriver (both
//! installed by `scripts/test-deps`; missing, the test fails). A real node and a real
//! simulator; every step is done as a user would — typing, clicking — and each page's
//! screenshot is saved under `target/console-screenshots/` as an artefact.

mod common;

use std::time::Duration;

use common::browser::{Page, browser, chromedriver, label, run, secs};
use common::{Node, NodeConfig, Sim, TestDb};
use fantoccini::Locator;
use serde_json::json;

fn viewer(node: &Node) -> (String, String) {
    let password = "Viewer-pass-1234".to_string();
    let (status, reply) = node.post_json(
        "/api/users",
        &json!({"userid": "vera", "password": password, "name": "Vera Viewer", "groups": ["viewer", "operator"]}),
    );
    assert_eq!(status, 201, "{reply}");
    ("vera".into(), password)
}

async fn walk(node: &Node, sim: &Sim, label: &str) {
    let driver = chromedriver();
    let page = Page {
        c: browser(&driver).await,
        label: label.to_string(),
    };
    let wait = secs(30);

    // Not logged in: the login form, and the API refuses the page's calls.
    page.c.goto(&node.url()).await.expect("open /");
    page.login("admin", &node.admin_password()).await;
    page.js("window.__stewardPage = 'first load'").await;

    // Overview: this node among the servers, its roles, the queue.
    let server = node.get_json("/api/servers?expand=resources")["resources"][0]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    page.until(
        "server on the overview",
        &format!("document.querySelector('#servers') && document.querySelector('#servers').textContent.includes({})", json!(server)),
        wait,
    )
    .await;
    page.until(
        "live feed",
        "document.getElementById('live-state').dataset.state === 'good'",
        wait,
    )
    .await;
    page.shot("overview").await;

    // Add the simulator as a provider through the form.
    page.follow("/providers").await;
    page.until(
        "providers page",
        "document.querySelector('#add-provider')",
        wait,
    )
    .await;
    page.click("#add-provider").await;
    page.until(
        "provider form",
        "document.querySelector('#provider-form')",
        wait,
    )
    .await;
    page.fill("#p-name", "sim").await;
    page.fill("#p-api_url", &sim.url).await;
    page.click("#p-allow_insecure_http").await;
    page.shot("provider-form").await;
    page.click("#provider-form button[type=submit]").await;
    page.until("provider page", "location.hash.match(/^#\\/providers\\/\\d+$/) && document.querySelector('h1') && document.querySelector('h1').textContent === 'sim'", wait)
        .await;

    page.until(
        "first refresh on the provider page",
        "document.querySelector('#refreshes')",
        secs(60),
    )
    .await;
    page.shot("provider").await;

    // Pods appear in the list without a reload, as the first refresh lands.
    page.follow("/inventory/container_groups").await;
    page.until("pods list", "document.querySelector('table.data')", wait)
        .await;
    let pods = page
        .until(
            "pods in the list",
            "document.querySelectorAll('table.data tbody tr').length",
            secs(60),
        )
        .await;
    assert!(pods.as_u64().unwrap_or(0) > 0);
    // A pod created in the cluster now shows up by itself.
    let created = sim.admin("/_sim/churn", json!({"create": 1}));
    let name = created["created"][0]["name"]
        .as_str()
        .unwrap_or_else(|| panic!("a created pod's name: {created}"))
        .to_string();
    page.until(
        "new pod in the list",
        &format!("[...document.querySelectorAll('table.data tbody tr')].some(r => r.textContent.includes({}))", json!(name)),
        wait,
    )
    .await;
    // Narrow to the new pod by name: the filter runs on the server.
    page.fill("#f-q", &name).await;
    page.until(
        "pod found by name",
        &format!("[...document.querySelectorAll('table.data tbody tr')].length === 1 && document.querySelector('table.data tbody tr').textContent.includes({})", json!(name)),
        wait,
    )
    .await;
    assert_eq!(
        page.js("return window.__stewardPage").await,
        json!("first load"),
        "the page reloaded"
    );
    // Emptied as a user does, key by key (each keystroke is an input event).
    page.fill("#f-q", "x").await;
    page.c
        .find(Locator::Css("#f-q"))
        .await
        .expect("search")
        .send_keys("\u{e003}")
        .await
        .expect("backspace");

    // Sort by name, both ways, and compare with the API's own order.
    page.until(
        "all pods again",
        "document.querySelectorAll('table.data tbody tr').length > 1",
        wait,
    )
    .await;
    page.click("table.data th:first-child button.sort").await; // already by name: now descending
    page.until(
        "sorted descending",
        "location.hash.includes('order=desc')",
        wait,
    )
    .await;
    page.until("descending rows", "document.querySelector('table.data th[aria-sort=descending]') && !document.querySelector('.table-status .loading')", wait)
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let shown = page.column(0).await;
    let api = node.get_json("/api/container_groups?expand=resources&attributes=name&sort_by=name&sort_order=desc&limit=50");
    let expected: Vec<String> = api["resources"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        shown.first(),
        expected.first(),
        "first row, descending by name"
    );
    page.shot("pods").await;

    // A deep link survives a reload.
    page.c.refresh().await.expect("reload");
    page.until("sorted after reload", "document.querySelector('table.data th[aria-sort=descending]') && document.querySelectorAll('table.data tbody tr').length > 1", wait)
        .await;

    // A pod's page: properties, relations as links, charts.
    page.click("table.data tbody tr:first-child").await;
    page.until("pod page", "location.hash.match(/container_groups\\/\\d+$/) && document.querySelector('h1') && document.querySelector('h1').textContent.startsWith('Pod ')", wait)
        .await;
    page.until("relations", "document.querySelector('a[href^=\"#/inventory/container_nodes/\"]') && document.querySelector('a[href^=\"#/inventory/containers/\"]')", wait)
        .await;
    page.until(
        "utilization panel",
        "document.querySelector('.metrics') && !document.querySelector('.metrics .loading')",
        wait,
    )
    .await;
    page.shot("pod").await;

    events_and_alerts(node, sim, &page).await;

    // Every other page shows what it should, and no error.
    for (hash, ready, shot) in [
        (
            "/queue",
            "document.querySelector('.stats') && document.querySelector('#main .card:last-child table, #main .card:last-child .empty')",
            "queue",
        ),
        (
            "/inventory/container_nodes",
            "document.querySelectorAll('table.data tbody tr').length === 2",
            "nodes",
        ),
        (
            "/inventory/container_projects",
            "document.querySelectorAll('table.data tbody tr').length > 0",
            "projects",
        ),
        (
            "/inventory/containers",
            "document.querySelectorAll('table.data tbody tr').length > 0",
            "containers",
        ),
        (
            "/inventory/container_services",
            "document.querySelectorAll('table.data tbody tr').length > 0",
            "services",
        ),
        (
            "/inventory/container_replicators",
            "document.querySelectorAll('table.data tbody tr').length > 0",
            "replicators",
        ),
        (
            "/inventory/container_images",
            "document.querySelectorAll('table.data tbody tr').length > 0",
            "images",
        ),
        (
            "/admin/users",
            "document.querySelector('#users')",
            "admin-users",
        ),
        (
            "/admin/groups",
            "document.querySelector('#groups')",
            "admin-groups",
        ),
        (
            "/admin/roles",
            "document.querySelector('#roles') && document.querySelectorAll('#add-role input[type=checkbox]').length > 3",
            "admin-roles",
        ),
        (
            "/admin/tenants",
            "document.querySelector('#tenants')",
            "admin-tenants",
        ),
    ] {
        page.follow(hash).await;
        page.until(shot, ready, wait).await;
        let failures = page
            .js("return [...document.querySelectorAll('#main .failure:not([hidden])')].map(e => e.textContent)")
            .await;
        assert_eq!(failures, json!([]), "{hash} shows an error");
        page.shot(shot).await;
    }
    // A node's page, in the dark.
    page.follow("/inventory/container_nodes").await;
    page.until(
        "nodes again",
        "document.querySelectorAll('table.data tbody tr').length === 2",
        wait,
    )
    .await;
    page.click("table.data tbody tr:first-child").await;
    page.until("node page", "document.querySelector('h1') && document.querySelector('h1').textContent.startsWith('Node ') && document.querySelector('a[href^=\"#/inventory/container_groups/\"]')", wait)
        .await;
    page.click("#theme").await;
    page.until(
        "dark",
        "document.documentElement.dataset.theme === 'dark'",
        wait,
    )
    .await;
    page.shot("node-dark").await;
    page.click("#theme").await;
    page.follow("/").await;
    page.until("overview counts", "document.querySelectorAll('.count-card').length === 7 && ![...document.querySelectorAll('.count-card .n')].some(n => n.textContent === '0')", wait)
        .await;
    page.shot("overview-with-provider").await;
    page.follow("/admin/audit").await;
    page.until("audit log", "document.querySelector('#audit') && document.querySelector('#audit').textContent.includes('POST /api/providers')", wait)
        .await;

    // Log out: the session is gone for the API too.
    page.click("#logout").await;
    page.until(
        "login form after logout",
        "document.querySelector('#login')",
        wait,
    )
    .await;
    let status = page
        .js("return fetch('/api', {headers: {'X-Steward-Console': '1'}}).then(r => r.status)")
        .await;
    assert_eq!(
        status,
        json!(401),
        "the session cookie still works after logout"
    );

    // A viewer sees no administration, and is refused it by the page and by the API.
    let (user, password) = viewer(node);
    page.login(&user, &password).await;
    // Vera is in two groups: the top bar offers the switch; act as the viewer first.
    page.until("group switch", "document.querySelector('#group')", wait)
        .await;
    switch_group(&page, "viewer").await;
    let nav = page
        .js("return document.getElementById('nav').textContent")
        .await;
    assert!(
        !nav.as_str().unwrap_or_default().contains("Admin"),
        "a viewer's navigation offers Admin: {nav}"
    );
    page.follow("/admin/users").await;
    page.until(
        "refused admin page",
        "document.querySelector('#main').textContent.includes('Not allowed')",
        wait,
    )
    .await;
    page.shot("viewer-refused").await;
    let status = page
        .js("return fetch('/api/users', {headers: {'X-Steward-Console': '1'}}).then(r => r.status)")
        .await;
    assert_eq!(status, json!(403));
    // Writes with the cookie need the console's header (CSRF guard).
    let status = page
        .js("return fetch('/api/session', {method: 'DELETE'}).then(r => r.status)")
        .await;
    assert_eq!(
        status,
        json!(403),
        "a cookie write without the console's header"
    );
    // The alerts, but none of the buttons acting on them.
    page.follow("/alerts").await;
    page.until(
        "alerts as viewer",
        "[...document.querySelectorAll('table.data tbody tr')].some(r => r.textContent.includes('ConsoleLeftAlone'))",
        wait,
    )
    .await;
    let buttons = page
        .js("return document.querySelectorAll('#main .row-actions button').length")
        .await;
    assert_eq!(buttons, json!(0), "a viewer is offered to act on alerts");
    page.shot("viewer-alerts").await;
    page.follow("/providers").await;
    page.until(
        "providers as viewer",
        "document.querySelector('#providers')",
        wait,
    )
    .await;
    let add = page
        .js("return !!document.querySelector('#add-provider')")
        .await;
    assert_eq!(add, json!(false), "a viewer is offered to add providers");
    page.click("#providers tbody a").await;
    page.until(
        "provider page as viewer",
        "document.querySelector('h1') && document.querySelector('h1').textContent === 'sim'",
        wait,
    )
    .await;
    let refresh = page.js("return !!document.querySelector('#refresh')").await;
    assert_eq!(refresh, json!(false), "a viewer is offered to refresh");
    // As an operator (same user, other group) the refresh button is there, and works.
    switch_group(&page, "operator").await;
    page.until(
        "refresh offered to the operator",
        "document.querySelector('#refresh')",
        wait,
    )
    .await;
    page.click("#refresh").await;
    page.until(
        "refresh queued",
        "document.querySelector('#toasts').textContent.includes('queued')",
        wait,
    )
    .await;
    page.follow("/alerts").await;
    page.until(
        "acknowledge offered to the operator",
        "document.querySelector('button.ack')",
        wait,
    )
    .await;
    page.click("#logout").await;
    page.until("logged out", "document.querySelector('#login')", wait)
        .await;
    page.c.close().await.expect("close the browser");
}

/// An Alertmanager (v4) webhook's body raising one alert.
fn alertmanager_alert(name: &str, severity: &str) -> serde_json::Value {
    json!({"version": "4", "status": "firing", "receiver": "steward", "alerts": [{
        "status": "firing", "labels": {"alertname": name, "severity": severity},
        "annotations": {"description": format!("{name}, raised by the console's test")},
        "startsAt": "2026-01-01T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": format!("console{name}")}]})
}

/// Events (the list, filtered; a pod's recent events and timeline) and alerts (raised
/// through the Alertmanager webhook, acknowledged from the page, the policies tab), as the
/// admin.
async fn events_and_alerts(node: &Node, sim: &Sim, page: &Page) {
    let wait = secs(30);
    let provider = node.get_json("/api/providers?expand=resources")["resources"][0]["id"]
        .as_str()
        .expect("the provider's id")
        .to_string();
    // Restarts in the cluster: back-off events arrive in the list by themselves (it polls).
    page.follow("/events?type=POD_BACKOFF").await;
    page.until(
        "events page",
        "document.querySelector('#f-type') && document.querySelector('table.data')",
        wait,
    )
    .await;
    sim.admin("/_sim/churn", json!({"restart": 2}));
    page.until(
        "a back-off event in the list",
        "[...document.querySelectorAll('table.data tbody tr')].some(r => r.textContent.includes('POD_BACKOFF'))",
        secs(60),
    )
    .await;
    // Every row shown is of the type filtered on, newest first.
    let types = page.column(1).await;
    assert!(
        types.iter().all(|t| t.starts_with("POD_BACKOFF")),
        "{types:?}"
    );
    page.js("document.getElementById('f-type').value = ''; document.getElementById('f-type').dispatchEvent(new Event('input'))")
        .await;
    page.until(
        "other events too",
        "[...document.querySelectorAll('table.data tbody tr')].some(r => !r.children[1].textContent.startsWith('POD_BACKOFF'))",
        wait,
    )
    .await;
    let providers = page.column(7).await;
    assert!(providers.iter().all(|p| p == "sim"), "{providers:?}");
    page.shot("events").await;
    // The pod an event concerns: its recent events and the timeline.
    page.follow("/events?type=POD_BACKOFF").await;
    page.until(
        "back-off events again",
        "document.querySelector('table.data tbody tr a[href^=\"#/inventory/container_groups/\"]')",
        wait,
    )
    .await;
    page.click("table.data tbody tr a[href^=\"#/inventory/container_groups/\"]")
        .await;
    page.until(
        "the pod's recent events",
        "location.hash.match(/container_groups\\/\\d+$/) && document.querySelector('#recent-events') && document.querySelector('#recent-events').textContent.includes('POD_BACKOFF')",
        wait,
    )
    .await;
    page.until(
        "the pod's timeline",
        "document.querySelector('#timeline .uplot canvas')",
        wait,
    )
    .await;
    page.js("document.getElementById('object-events').scrollIntoView()")
        .await;
    page.shot("pod-events").await;
    page.js("window.scrollTo(0, 0)").await;

    // Two alerts from Alertmanager: one acknowledged here, one left for the viewer's walk.
    for (name, severity) in [
        ("ConsoleTestAlert", "warning"),
        ("ConsoleLeftAlone", "error"),
    ] {
        let (status, reply) = node.post_json(
            &format!("/api/alertmanager?provider_id={provider}"),
            &alertmanager_alert(name, severity),
        );
        assert_eq!(status, 200, "{reply}");
    }
    page.follow("/alerts?status=firing").await;
    page.until(
        "alerts listed",
        "[...document.querySelectorAll('table.data tbody tr')].filter(r => r.textContent.includes('ConsoleTestAlert') || r.textContent.includes('ConsoleLeftAlone')).length === 2",
        wait,
    )
    .await;
    let id =
        node.get_json("/api/alerts?expand=resources&filter[]=name=ConsoleTestAlert")["resources"]
            [0]["id"]
            .as_str()
            .expect("the alert's id")
            .to_string();
    page.shot("alerts").await;
    page.click(&format!("button.ack[data-alert=\"{id}\"]"))
        .await;
    page.until(
        "acknowledged on the page",
        &format!("!document.querySelector('button.ack[data-alert=\"{id}\"]') && document.querySelector('tr[data-id=\"{id}\"] .ack')"),
        wait,
    )
    .await;
    let alert = node.get_json(&format!("/api/alerts/{id}"));
    assert_eq!(alert["acknowledged"], json!(true), "{alert}");
    assert_eq!(alert["acknowledged_by"], json!("admin"), "{alert}");
    // The provider's page shows its open alerts and events.
    page.follow(&format!("/providers/{provider}")).await;
    page.until(
        "the provider's open alerts and events",
        "document.querySelector('#open-alerts') && document.querySelector('#open-alerts').textContent.includes('ConsoleTestAlert') && document.querySelector('#recent-events')",
        wait,
    )
    .await;
    // The policies, read-only.
    page.follow("/alerts/policies").await;
    page.until(
        "policies",
        "document.querySelectorAll('#policies tbody tr').length > 0",
        wait,
    )
    .await;
    page.shot("policies").await;
    let failures = page
        .js("return [...document.querySelectorAll('#main .failure:not([hidden])')].map(e => e.textContent)")
        .await;
    assert_eq!(failures, json!([]), "the policies show an error");
}

/// Picks `group` in the top bar's switch (when it is not the current one already) and
/// waits for the session to say so.
async fn switch_group(page: &Page, group: &str) {
    let current = page
        .js("return document.querySelector('#group').value")
        .await;
    if current == json!(group) {
        return;
    }
    page.js(&format!(
        "const s = document.querySelector('#group'); s.value = {}; s.dispatchEvent(new Event('change'));",
        json!(group)
    ))
    .await;
    page.until(
        "group switched",
        &format!("document.querySelector('#group') && document.querySelector('#group').value === {} && document.querySelector('#toasts').textContent.includes({})", json!(group), json!(format!("group {group}"))),
        secs(20),
    )
    .await;
}

both_backends!(
    a_user_logs_in_adds_a_provider_and_watches_pods_arrive,
    |db: TestDb| {
        let sim = Sim::start(&["--nodes", "2", "--pods-per-node", "10"]);
        let node = NodeConfig::new(&db, "console").start();
        run(walk(&node, &sim, label(&db)));
    }
);

/// A plain request: status, headers (lower-case names) and body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

fn fetch(url: &str, headers: &[(&str, &str)]) -> Answer {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let mut req = agent.get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut r = req.call().expect("request");
    Answer {
        status: r.status().as_u16(),
        headers: r
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    v.to_str().unwrap_or_default().to_string(),
                )
            })
            .collect(),
        body: r.body_mut().read_to_string().unwrap_or_default(),
    }
}

#[test]
fn the_console_is_served_with_a_strict_policy_and_revalidated() {
    let db = TestDb::new(common::Backend::Sqlite);
    let node = NodeConfig::new(&db, "assets").start();
    let base = node.url();
    let root = fetch(&format!("{base}/"), &[]);
    assert_eq!(root.status, 303, "{:?} {}", root.headers, root.body);
    assert_eq!(root.header("location").as_deref(), Some("/console/"));
    let page = fetch(&format!("{base}/console/"), &[]);
    assert_eq!(page.status, 200);
    let csp = page.header("content-security-policy").unwrap_or_default();
    assert!(
        csp.contains("script-src 'self'")
            && csp.contains("frame-ancestors 'none'")
            && !csp.contains("unsafe"),
        "{csp}"
    );
    // Connections: this origin and the live feed's listener, at the page's host.
    let live = url::Url::parse(&node.ws_url()).expect("live feed url");
    let live_origin = live.origin().ascii_serialization();
    assert!(
        csp.contains(&format!("connect-src 'self' {live_origin};")),
        "{csp} (live feed at {live})"
    );
    assert!(!csp.contains('*'), "{csp}");
    assert!(page.body.contains("/console/assets/app.js"));
    let etag = page.header("etag").expect("an ETag");
    let again = fetch(
        &format!("{base}/console/"),
        &[("If-None-Match", etag.as_str())],
    );
    assert_eq!(again.status, 304);
    let js = fetch(&format!("{base}/console/assets/app.js"), &[]);
    assert_eq!(js.status, 200);
    assert!(
        js.header("content-type")
            .unwrap_or_default()
            .starts_with("text/javascript")
    );
    assert_eq!(js.header("cache-control").as_deref(), Some("no-cache"));
    let missing = fetch(&format!("{base}/console/assets/nope.js"), &[]);
    assert_eq!(missing.status, 404);
    assert!(missing.body.contains("\"error\""), "{}", missing.body);
    // The session cookie is accepted from the console's own origin only.
    let token = node.admin_token();
    let cookie = format!("steward_session={token}");
    let foreign = fetch(
        &format!("{base}/api"),
        &[
            ("Cookie", cookie.as_str()),
            ("Origin", "http://evil.example"),
        ],
    );
    assert_eq!(foreign.status, 403, "{}", foreign.body);
    let own = fetch(&format!("{base}/api"), &[("Cookie", cookie.as_str())]);
    assert_eq!(own.status, 200, "{}", own.body);
    // The console's calls get no WWW-Authenticate (no browser password pop-up).
    let console = fetch(&format!("{base}/api"), &[("X-Steward-Console", "1")]);
    assert_eq!(console.status, 401);
    assert_eq!(console.header("www-authenticate"), None);
    assert!(
        fetch(&format!("{base}/api"), &[])
            .header("www-authenticate")
            .is_some()
    );
}

#[test]
fn a_node_without_the_roles_serves_neither_console_nor_websocket() {
    let db = TestDb::new(common::Backend::Sqlite);
    let node = NodeConfig::new(&db, "api-only")
        .env("STEWARD__ROLES__ENABLED", "web_services,ems_inventory")
        .start();
    let base = node.url();
    for path in ["/", "/console/", "/console/assets/app.js"] {
        let answer = fetch(&format!("{base}{path}"), &[]);
        assert_eq!(answer.status, 404, "{path}: {}", answer.body);
        assert!(answer.body.contains("user_interface"), "{}", answer.body);
    }
    let token = node.admin_token();
    let ws = fetch(&format!("{base}/ws"), &[("X-Auth-Token", token.as_str())]);
    assert_eq!(ws.status, 404, "{}", ws.body);
    assert!(ws.body.contains("websocket"), "{}", ws.body);
    // Nor does the live feed's own listener, which GET /api does not name.
    let listener = node.logged_ws_url().replacen("ws://", "http://", 1);
    let ws = fetch(&listener, &[("X-Auth-Token", token.as_str())]);
    assert_eq!(ws.status, 404, "{}", ws.body);
    assert!(ws.body.contains("websocket"), "{}", ws.body);
    // The REST API is still served.
    let entry = node.get_json("/api");
    assert_eq!(entry["identity"]["userid"], "admin");
    assert_eq!(entry["live_feed"], serde_json::Value::Null, "{entry}");
}

async fn add_from_kubeconfig(node: &Node, sim: &Sim, label: &str) {
    let driver = chromedriver();
    let page = Page {
        c: browser(&driver).await,
        label: format!("{label}-kubeconfig"),
    };
    let wait = secs(30);
    page.c.goto(&node.url()).await.expect("open /");
    page.login("admin", &node.admin_password()).await;
    page.follow("/providers/new").await;
    page.until(
        "provider form",
        "document.querySelector('#provider-form')",
        wait,
    )
    .await;
    page.fill("#p-name", "tls-sim").await;
    page.c
        .find(Locator::Css("#p-auth"))
        .await
        .expect("auth choice")
        .select_by_value("kubeconfig")
        .await
        .expect("choose kubeconfig");
    // The file holds one context per way of logging in; the client-certificate one is
    // chosen, not the file's current (token) one.
    let file = sim
        .tls_dir
        .as_ref()
        .expect("a --tls simulator")
        .join("kubeconfig.yaml");
    page.c
        .find(Locator::Css("#p-kubeconfig"))
        .await
        .expect("file input")
        .send_keys(&file.display().to_string())
        .await
        .expect("upload");
    page.until("contexts offered", "document.querySelector('select#p-context') && document.querySelectorAll('select#p-context option').length > 2", wait)
        .await;
    page.c
        .find(Locator::Css("select#p-context"))
        .await
        .expect("context choice")
        .select_by_value("cert")
        .await
        .expect("choose cert");
    page.shot("kubeconfig-form").await;
    page.click("#provider-form button[type=submit]").await;
    page.until(
        "provider page",
        "document.querySelector('h1') && document.querySelector('h1').textContent === 'tls-sim'",
        wait,
    )
    .await;
    page.until(
        "refreshed over TLS with the client certificate",
        "document.querySelector('#refreshes') && document.querySelector('#refreshes tbody').textContent.includes('ok')",
        secs(60),
    )
    .await;
    let auth = page
        .js("return document.querySelector('dl.props').textContent")
        .await;
    assert!(
        auth.as_str().unwrap_or_default().contains("context cert"),
        "{auth}"
    );
    page.shot("kubeconfig-provider").await;
    page.c.close().await.expect("close the browser");
}

both_backends!(
    a_provider_is_added_from_an_uploaded_kubeconfig,
    |db: TestDb| {
        let dir = tempfile::tempdir().expect("dir");
        let sim = Sim::start_tls(dir.path(), &["--nodes", "1", "--pods-per-node", "3"]);
        let node = NodeConfig::new(&db, "kubeconfig").start();
        run(add_from_kubeconfig(&node, &sim, label(&db)));
    }
);
